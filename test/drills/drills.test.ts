/**
 * Every drill scenario once, on real processes: the oracle must be clean (on
 * every lease the scenario does not break on purpose), every guarded act
 * inside its actor's term, no fenced write accepted from a deposed holder,
 * and recovery within the scenario's (generous) bound. partition-region needs
 * root (network namespaces), clock-skew needs libfaketime; each is skipped
 * with a message otherwise. About four minutes on a 2-core machine.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LIBFAKETIME } from "../../src/launcher/harness-node.js";
import { isRoot } from "../../src/drills/netns.js";
import { runDrill } from "../../src/drills/run.js";
import { SCENARIOS, type Scenario } from "../../src/drills/types.js";

const out = mkdtempSync(join(tmpdir(), "regent-drills-test-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function skipReason(s: Scenario): string | undefined {
  if (s === "partition-region" && !isRoot()) return "partition-region needs root (network namespaces)";
  if (s === "clock-skew" && !existsSync(LIBFAKETIME)) return `clock-skew needs libfaketime (${LIBFAKETIME}; apt-get install faketime)`;
  return undefined;
}

/** Children of this process still alive (a drill must leave none). */
function children(): string[] {
  try {
    return execFileSync("ps", ["--ppid", String(process.pid), "-o", "pid=,comm="], { encoding: "utf8" })
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !/\bps$/.test(l));
  } catch {
    return []; // ps exits 1 when there are none
  }
}

describe.sequential("regent drill, every scenario once", () => {
  for (const s of SCENARIOS) {
    const reason = skipReason(s);
    if (reason) console.warn(`skipping ${s}: ${reason}`);
    it.skipIf(!!reason)(
      s,
      async () => {
        const r = await runDrill(s, { regions: "regions", out });
        const summary = `${s}: ${JSON.stringify({ error: r.error?.split("\n")[0], outcome: r.outcome, oracle: r.oracle, fenced: { ...r.fenced, perScope: undefined } }).slice(0, 3000)}`;
        console.log(`${s}: recovery ${r.outcome.recoveryMs?.toFixed(0)} ms (bound ${r.outcome.boundMs}), fenced accepted ${r.fenced.accepted} rejected ${r.fenced.rejectedStale}`);
        expect(r.error, summary).toBeUndefined();
        expect(r.oracle.violations, summary).toEqual([]);
        expect(r.oracle.actsOutsideTerms, summary).toEqual([]);
        expect(r.fenced.acceptedFromDeposed, summary).toBe(0);
        expect(r.fenced.accepted, summary).toBeGreaterThan(0);
        expect(r.outcome.failures, summary).toEqual([]);
        expect(r.outcome.recoveryMs, summary).not.toBeNull();
        expect(r.outcome.recoveryMs!, summary).toBeLessThanOrEqual(r.outcome.boundMs);
        expect(r.passed, summary).toBe(true);
        for (const f of ["report.json", "report.md", "timeline.svg"]) expect(existsSync(join(r.dir, f)), f).toBe(true);
        expect(readFileSync(join(r.dir, "timeline.svg"), "utf8")).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
        if (s === "clock-skew" && r.oracle.expectedViolations.length) {
          // Out of the drift bound the leases overlap; the fenced store must have turned the stale holder away.
          const scope = String(r.outcome.metrics.outBoundRegion);
          expect(r.fenced.perScope[scope]?.rejectedStale ?? 0, summary).toBeGreaterThan(0);
        }
        expect(children(), "processes left behind").toEqual([]);
        if (s === "partition-region") expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).not.toMatch(new RegExp(`regent-drill-${process.pid}-`));
      },
      240_000,
    );
  }
});
