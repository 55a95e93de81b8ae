/** The drills' pure parts: faketime specs, clock mapping, summary table, timeline SVG. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseSkew } from "../../src/drills/deployment.js";
import { SUMMARY_END, SUMMARY_START, summarize, summaryMarkdown, writeSummary } from "../../src/drills/suite.js";
import { timelineSvg } from "../../src/drills/svg.js";
import type { DrillReport } from "../../src/drills/types.js";

function report(over: Partial<DrillReport> = {}): DrillReport {
  return {
    scenario: "kill-leader",
    startedAt: "2026-01-01T00:00:00Z",
    durationMs: 1000,
    host: { cpus: 2, node: "v20", natsServer: "v2.9.10" },
    fabric: "loopback",
    faultAt: 1000,
    outcome: { recoveryMs: 1500, recoveryWhat: "x", boundMs: 10_000, metrics: { scopeHeldAgainMs: 3000 }, failures: [], notes: [] },
    oracle: { ok: true, violations: [], expectedViolations: [], actsOutsideTerms: [], intervals: 2, acts: 10 },
    fenced: { offered: 10, accepted: 9, rejectedStale: 1, unavailable: 0, acceptedFromDeposed: 0, acceptedFromDeposedUnsafe: 0, claims: 2, perScope: {}, examples: [] },
    marks: [{ t: 1000, label: "SIGKILL <leader> & co", kind: "fault" }],
    intervals: [
      { lease: "region/a", holder: "a-1", token: 1, start: 0, end: 1500 },
      { lease: "region/a", holder: "a-2", token: 5, start: 2500, end: 4000 },
    ],
    participants: [
      { id: "a-1", region: "a", wrapper: [] },
      { id: "a-2", region: "a", wrapper: ["faketime", "+0 x0.5"] },
    ],
    passed: true,
    dir: "/nowhere",
    ...over,
  };
}

describe("drill parts", () => {
  it("normalises faketime specs and reads their rate", () => {
    expect(parseSkew("x0.5")).toEqual({ spec: "+0 x0.5", rate: 0.5 });
    expect(parseSkew("+1h x0.995")).toEqual({ spec: "+1h x0.995", rate: 0.995 });
    expect(parseSkew("+1h")).toEqual({ spec: "+1h", rate: 1 });
    expect(() => parseSkew("+0 x0")).toThrow(/rate/);
  });

  it("summarises runs per scenario: median and max recovery, verdicts, fenced counts", () => {
    const rows = summarize([
      report(),
      report({ outcome: { ...report().outcome, recoveryMs: 2500 } }),
      report({ outcome: { ...report().outcome, recoveryMs: 4000 }, passed: false, oracle: { ...report().oracle, ok: false } }),
    ]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ scenario: "kill-leader", runs: 3, passed: 2, medianMs: 2500, maxMs: 4000, oracleOk: 2, accepted: 27, rejectedStale: 3, acceptedFromDeposed: 0 });
    const md = summaryMarkdown(rows, 3, 60_000);
    expect(md).toContain("| kill-leader | 3 | 2 | 2.50 | 4.00 | 2/3 |");
  });

  it("replaces only the marked summary section of a markdown file", () => {
    const dir = mkdtempSync(join(tmpdir(), "regent-summary-"));
    try {
      const f = join(dir, "drills.md");
      writeFileSync(f, `# Drills\n\nprose\n\n${SUMMARY_START}\nold\n${SUMMARY_END}\n\nmore prose\n`);
      writeSummary(f, `${SUMMARY_START}\nnew\n${SUMMARY_END}`);
      expect(readFileSync(f, "utf8")).toBe(`# Drills\n\nprose\n\n${SUMMARY_START}\nnew\n${SUMMARY_END}\n\nmore prose\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("draws one row per participant, a bar per interval and the fault, escaping labels", () => {
    const svg = timelineSvg(report());
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<title>region\/a token/g)).toHaveLength(2);
    expect(svg).toContain("a-2 ⏱+0 x0.5");
    expect(svg).toContain("SIGKILL &lt;leader&gt; &amp; co");
    expect(svg).not.toContain("<leader>");
  });
});
