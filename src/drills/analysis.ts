/**
 * After a drill: every participant's intervals and acts, mapped onto the
 * shared clock, checked by the split-brain oracle (src/observability/oracle.ts),
 * plus the guarded-act check (every act inside its actor's own term) and
 * leadership-change counts.
 */
import { readFileSync } from "node:fs";
import { checkIntervals, readIntervals, type LeadershipInterval } from "../observability/oracle.js";
import type { DrillDeployment, DrillNode } from "./deployment.js";
import type { OracleVerdict, ReportInterval } from "./types.js";

interface Act {
  t: number;
  id: string;
  lease: string;
  token: number;
}

/** Every node's intervals, times mapped onto the shared clock. */
export function collectIntervals(dep: DrillDeployment): LeadershipInterval[] {
  const out: LeadershipInterval[] = [];
  for (const f of dep.files()) {
    if (!f.intervals) continue;
    for (const iv of readIntervals([f.intervals])) out.push({ ...iv, start: f.node.toShared(iv.start), end: f.node.toShared(iv.end) });
  }
  return out;
}

function readActs(node: DrillNode, file: string): Act[] {
  const acts: Act[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line) continue;
    try {
      const a = JSON.parse(line) as Act;
      acts.push({ ...a, t: node.toShared(a.t) });
    } catch {
      continue; // torn last line of a killed process
    }
  }
  return acts;
}

/**
 * The oracle over every lease, and every guarded act checked against its
 * actor's own recorded term (1 ms slack at the start: the act loop and the
 * recorder read the clock separately). Violations on `unsafeLeases` are
 * reported as expected.
 */
export function judge(dep: DrillDeployment, unsafeLeases: string[] = []): { verdict: OracleVerdict; intervals: ReportInterval[] } {
  const intervals = collectIntervals(dep);
  const res = checkIntervals(intervals);
  const violations: string[] = [];
  const expected: string[] = [];
  for (const v of res.violations) (unsafeLeases.includes(v.lease) ? expected : violations).push(v.message);
  const byKey = new Map<string, LeadershipInterval[]>();
  for (const iv of intervals) {
    const k = `${iv.holder}|${iv.lease}|${iv.token}`;
    byKey.set(k, [...(byKey.get(k) ?? []), iv]);
  }
  const outside: string[] = [];
  let acts = 0;
  for (const f of dep.files()) {
    if (!f.acts) continue;
    for (const a of readActs(f.node, f.acts)) {
      acts++;
      const ok = (byKey.get(`${a.id}|${a.lease}|${a.token}`) ?? []).some((i) => a.t >= i.start - 1 && a.t <= i.end);
      if (!ok && outside.length < 20) outside.push(`${a.id} acted on ${a.lease} at ${a.t.toFixed(1)} with token ${a.token} outside its term`);
    }
  }
  if (acts === 0) outside.push("no guarded acts recorded at all");
  const verdict: OracleVerdict = {
    ok: violations.length === 0,
    violations: violations.slice(0, 20),
    expectedViolations: expected.slice(0, 20),
    actsOutsideTerms: outside,
    intervals: intervals.length,
    acts,
  };
  const report = intervals.map((i) => ({ lease: i.lease, holder: i.holder, token: i.token, start: i.start, end: i.end }));
  return { verdict, intervals: report };
}

/** Leadership terms of `lease` that began in [from, to]. */
export function termsStarted(intervals: ReportInterval[], lease: string, from: number, to = Number.POSITIVE_INFINITY): ReportInterval[] {
  return intervals.filter((i) => i.lease === lease && i.start >= from && i.start <= to).sort((a, b) => a.start - b.start);
}

/** Number of new terms per lease that began in [from, to]. */
export function changesByLease(intervals: ReportInterval[], from: number, to: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of intervals) if (i.start >= from && i.start <= to) out[i.lease] = (out[i.lease] ?? 0) + 1;
  return out;
}

/** First event of any node matching `pred` at or after `from` (shared clock), with its node. */
export function firstEvent(
  dep: DrillDeployment,
  from: number,
  pred: (e: DrillNode["events"][number], n: DrillNode) => boolean,
): { t: number; node: DrillNode; e: DrillNode["events"][number] } | undefined {
  let best: { t: number; node: DrillNode; e: DrillNode["events"][number] } | undefined;
  for (const n of dep.nodes) {
    for (const e of n.events) {
      const t = n.at(e);
      if (t >= from && pred(e, n) && (!best || t < best.t)) best = { t, node: n, e };
    }
  }
  return best;
}
