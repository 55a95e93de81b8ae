import type { LeadershipInterval } from "../../src/observability/oracle.js";

/** Every guarded act must fall inside a recorded interval of the same holder and token. */
export function checkActs(acts: { t: number; id: string; token: number }[], intervals: LeadershipInterval[]): string[] {
  const bad: string[] = [];
  for (const a of acts) {
    const ok = intervals.some((i) => i.holder === a.id && i.token === a.token && a.t >= i.start - 1 && a.t <= i.end);
    if (!ok) bad.push(`${a.id} acted at ${a.t.toFixed(3)} with token ${a.token} outside its term`);
  }
  return bad.slice(0, 20);
}
