/**
 * After a drill: every participant's intervals and acts, mapped onto the
 * shared clock, checked by the split-brain oracle (src/observability/oracle.ts),
 * plus the guarded-act check (every act inside its actor's own term) and
 * leadership-change counts.
 */
import { checkIntervals } from "../observability/oracle.js";
import type { HarnessNode } from "../launcher/harness-node.js";
import type { DrillHarness } from "./fabric.js";
import type { OracleVerdict, ReportInterval } from "./types.js";

/**
 * The oracle over every lease, and every guarded act checked against its
 * actor's own recorded term ({@link RegentHarness.checkActs}). Violations on
 * `unsafeLeases` are reported as expected.
 */
export function judge(dep: DrillHarness, unsafeLeases: string[] = []): { verdict: OracleVerdict; intervals: ReportInterval[] } {
  const intervals = dep.intervals();
  const res = checkIntervals(intervals);
  const violations: string[] = [];
  const expected: string[] = [];
  for (const v of res.violations) (unsafeLeases.includes(v.lease) ? expected : violations).push(v.message);
  const { outside, acts } = dep.checkActs(intervals);
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
  dep: DrillHarness,
  from: number,
  pred: (e: HarnessNode["events"][number], n: HarnessNode) => boolean,
): { t: number; node: HarnessNode; e: HarnessNode["events"][number] } | undefined {
  let best: { t: number; node: HarnessNode; e: HarnessNode["events"][number] } | undefined;
  for (const n of dep.nodes) {
    for (const e of n.events) {
      const t = n.at(e);
      if (t >= from && pred(e, n) && (!best || t < best.t)) best = { t, node: n, e };
    }
  }
  return best;
}
