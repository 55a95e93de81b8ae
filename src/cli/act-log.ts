/**
 * The guarded acts of `regent node --act-log` and `regent elect --act-log`:
 * every few ms, one line per role held, which the drills and integration
 * tests check against the recorded terms (launcher/harness.ts, `checkActs`).
 */
import { openSync, writeSync } from "node:fs";
import { monotonicNowMs } from "../util/clock.js";

/** A lease this process may act under, and how to ask whether it holds it now. */
export interface GuardedRole {
  lease?: string;
  role(): { held: boolean; token: number | null };
}

/**
 * One round of acts. Each act is stamped *before* its role is checked: the
 * moment it was decided, inside the term. Stamped after, a pause between the
 * check and the stamp (the drills SIGSTOP nodes at arbitrary points; seen
 * once in CI) dates it up to the pause later, outside the term. Acting late
 * after such a pause is what fencing tokens are for, and the drills' fenced
 * resource checks that no such late write is accepted.
 */
export function actOnce(id: string, roles: Iterable<GuardedRole>, write: (line: string) => void, now: () => number = monotonicNowMs): void {
  for (const r of roles) {
    const t = now();
    const role = r.role();
    if (role.held) write(JSON.stringify({ t, id, ...(r.lease ? { lease: r.lease } : {}), token: role.token }) + "\n");
  }
}

/** Appends a round to `file` every `everyMs`, for the life of the process (the timer does not keep it alive). */
export function startActLog(file: string, id: string, roles: () => Iterable<GuardedRole>, everyMs = 5): void {
  const fd = openSync(file, "a");
  setInterval(() => actOnce(id, roles(), (line) => writeSync(fd, line)), everyMs).unref();
}
