/**
 * `regent drill <scenario|all>`: runs drills, prints one line per run (and
 * where its report went), optionally writes the summary table, and exits
 * non-zero when a drill failed (a skipped one does not count).
 */
import { monotonicNowMs } from "../util/clock.js";
import { LaunchFailedError } from "../errors.js";
import { parseSkew } from "../launcher/harness-node.js";
import { findRegion, loadTopology } from "../topology/load.js";
import { runDrill } from "./run.js";
import { summarize, summaryMarkdown, writeSummary } from "./suite.js";
import { SCENARIOS, isScenario, type DrillOptions, type DrillReport, type Scenario } from "./types.js";

export interface DrillCliOptions extends DrillOptions {
  runs?: number;
  summary?: string;
  json?: boolean;
}

export async function runDrillCli(which: string, o: DrillCliOptions): Promise<void> {
  const list: Scenario[] = which === "all" ? [...SCENARIOS] : isScenario(which) ? [which] : [];
  if (!list.length) throw new LaunchFailedError(`unknown scenario "${which}" (one of: ${SCENARIOS.join(", ")}, all)`);
  // Bad input fails here, before any server starts, not as a failed drill after one.
  const topology = loadTopology(o.regions);
  if (o.region) findRegion(topology, o.region);
  if (list.includes("clock-skew")) for (const spec of [o.skewIn, o.skewOut]) if (spec !== undefined) parseSkew(spec);
  const runs = o.runs ?? 1;
  const t0 = monotonicNowMs();
  const reports: DrillReport[] = [];
  for (let i = 0; i < runs; i++) {
    for (const s of list) {
      const r = await runDrill(s, o);
      reports.push(r);
      const verdict = r.skipped ? `SKIPPED (${r.skipped})` : r.passed ? "passed" : "FAILED";
      const rec = r.outcome.recoveryMs === null ? "—" : `${(r.outcome.recoveryMs / 1000).toFixed(2)} s`;
      const line = o.json
        ? JSON.stringify({ scenario: s, run: i + 1, passed: r.passed, skipped: r.skipped ?? null, recoveryMs: r.outcome.recoveryMs, oracleOk: r.oracle.ok, fenced: r.fenced, dir: r.dir })
        : `${s} [${i + 1}/${runs}] ${verdict}: recovery ${rec}, oracle ${r.oracle.ok ? "ok" : "VIOLATED"}, fenced accepted ${r.fenced.accepted} / rejected ${r.fenced.rejectedStale} / from deposed ${r.fenced.acceptedFromDeposed} → ${r.dir}`;
      process.stdout.write(line + "\n");
      if (!r.passed && !r.skipped && !o.json) {
        for (const f of [...r.outcome.failures, ...r.oracle.violations, ...r.oracle.actsOutsideTerms, ...(r.error ? [r.error.split("\n")[0]!] : [])].slice(0, 8)) process.stdout.write(`    ${f}\n`);
      }
    }
  }
  if (o.summary) {
    writeSummary(o.summary, summaryMarkdown(summarize(reports), runs, monotonicNowMs() - t0));
    process.stdout.write(`summary written to ${o.summary}\n`);
  }
  if (reports.some((r) => !r.passed && !r.skipped)) process.exitCode = 1;
}
