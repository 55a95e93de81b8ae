/**
 * `regent drill all --runs N [--summary FILE]`: every scenario N times, and a
 * summary table (median and max recovery, oracle verdicts, fenced-write
 * counts) written between markers into FILE (docs/drills.md via
 * `npm run drills`).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import type { DrillReport, Scenario } from "./types.js";

export const SUMMARY_START = "<!-- drills:summary:start -->";
export const SUMMARY_END = "<!-- drills:summary:end -->";

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
const sec = (ms: number | null) => (ms === null ? "—" : (ms / 1000).toFixed(2));

export interface SummaryRow {
  scenario: Scenario;
  runs: number;
  passed: number;
  skipped: number;
  medianMs: number | null;
  maxMs: number | null;
  oracleOk: number;
  expectedViolations: number;
  actsOutside: number;
  accepted: number;
  rejectedStale: number;
  acceptedFromDeposed: number;
  acceptedFromDeposedUnsafe: number;
  extra: string;
}

/** One row per scenario over its reports. */
export function summarize(reports: DrillReport[]): SummaryRow[] {
  const by = new Map<Scenario, DrillReport[]>();
  for (const r of reports) by.set(r.scenario, [...(by.get(r.scenario) ?? []), r]);
  return [...by].map(([scenario, rs]) => {
    const ran = rs.filter((r) => !r.skipped);
    const rec = ran.map((r) => r.outcome.recoveryMs).filter((x): x is number => x !== null);
    const sum = (f: (r: DrillReport) => number) => ran.reduce((a, r) => a + f(r), 0);
    const extra = extraFigures(scenario, ran);
    return {
      scenario,
      runs: rs.length,
      passed: ran.filter((r) => r.passed).length,
      skipped: rs.length - ran.length,
      medianMs: median(rec),
      maxMs: rec.length ? Math.max(...rec) : null,
      oracleOk: ran.filter((r) => r.oracle.ok).length,
      expectedViolations: sum((r) => r.oracle.expectedViolations.length),
      actsOutside: sum((r) => r.oracle.actsOutsideTerms.length),
      accepted: sum((r) => r.fenced.accepted),
      rejectedStale: sum((r) => r.fenced.rejectedStale),
      acceptedFromDeposed: sum((r) => r.fenced.acceptedFromDeposed),
      acceptedFromDeposedUnsafe: sum((r) => r.fenced.acceptedFromDeposedUnsafe),
      extra,
    };
  });
}

/** A scenario's own headline figure, e.g. churn's leadership changes or clock-skew's out-of-bound overlap. */
function extraFigures(scenario: Scenario, rs: DrillReport[]): string {
  const m = (k: string) => rs.map((r) => r.outcome.metrics[k]).filter((v): v is number => typeof v === "number");
  const fmt = (k: string, label: string, unit = "ms") => {
    const xs = m(k);
    return xs.length ? `${label} median ${unit === "ms" ? sec(median(xs)) + " s" : median(xs)}, max ${unit === "ms" ? sec(Math.max(...xs)) + " s" : Math.max(...xs)}` : "";
  };
  switch (scenario) {
    case "churn":
      return `${fmt("leadershipChanges", "leadership changes", "n")}; stickiness met in ${rs.filter((r) => r.outcome.metrics.stickinessMet === true).length}/${rs.length}`;
    case "clock-skew":
      return [fmt("outBoundRecoveryMs", "out-of-bound failover"), fmt("outBoundOverlapMs", "out-of-bound overlap")].filter(Boolean).join("; ");
    case "partition-region":
      return fmt("selfFencedAfterMs", "holder self-fenced after");
    case "nats-server-loss":
      return fmt("streamLeaderElectionMs", "stream-leader election");
    case "leader-hotspot":
      return `self-fenced in ${rs.filter((r) => r.outcome.metrics.selfFenced === true).length}/${rs.length}`;
    case "kill-leader":
      return fmt("scopeHeldAgainMs", "scope held again");
    case "pause-leader":
      return `${fmt("deposedReportedAfterResumeMs", "deposed reported after SIGCONT")}; deposed reported in ${rs.filter((r) => r.outcome.metrics.deposedReason !== null).length}/${rs.length}`;
    default: {
      const second = rs.filter((r) => r.outcome.metrics.failoverTo !== null && r.outcome.metrics.failoverTo !== r.outcome.metrics.firstChoice).length;
      return `${fmt("globalRecoveryMs", "global leader back")}; scope went to the second failover choice in ${second}/${rs.length}`;
    }
  }
}

export function summaryMarkdown(rows: SummaryRow[], runsPerScenario: number, wallMs: number): string {
  const lines = [
    SUMMARY_START,
    "",
    `Latest \`npm run drills -- --runs ${runsPerScenario}\` on this machine (${cpus().length} CPUs, ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ${(wallMs / 60_000).toFixed(0)} min). Recovery in seconds from the fault; fenced counts summed over the runs.`,
    "",
    "| scenario | runs | passed | recovery median | recovery max | oracle ok | acts outside a term | fenced accepted | fenced rejected (stale) | accepted from a deposed holder | notes |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const r of rows) {
    const oracle = `${r.oracleOk}/${r.runs - r.skipped}${r.expectedViolations ? ` (+${r.expectedViolations} expected overlaps)` : ""}`;
    const deposed = `${r.acceptedFromDeposed}${r.acceptedFromDeposedUnsafe ? ` (+${r.acceptedFromDeposedUnsafe} on the unsafe lease)` : ""}`;
    const skipped = r.skipped ? `skipped ${r.skipped}; ` : "";
    lines.push(`| ${r.scenario} | ${r.runs} | ${r.passed} | ${sec(r.medianMs)} | ${sec(r.maxMs)} | ${oracle} | ${r.actsOutside} | ${r.accepted} | ${r.rejectedStale} | ${deposed} | ${skipped}${r.extra} |`);
  }
  lines.push("", SUMMARY_END);
  return lines.join("\n");
}

/** Replaces the summary section of `file` (or appends one). */
export function writeSummary(file: string, section: string): void {
  const text = existsSync(file) ? readFileSync(file, "utf8") : "# Drills\n\n";
  const a = text.indexOf(SUMMARY_START);
  const b = text.indexOf(SUMMARY_END);
  const next = a >= 0 && b > a ? text.slice(0, a) + section + text.slice(b + SUMMARY_END.length) : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, next);
}
