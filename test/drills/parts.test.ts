/** The drills' parts that need no deployment: faketime specs, clock mapping, the fenced writer, summary table, timeline SVG. */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SharedClockMap, parseSkew } from "../../src/launcher/harness-node.js";
import { DemoWriter, type ActSource, type FencedKv } from "../../src/drills/fenced-store.js";
import type { RegentProcess } from "../../src/launcher/candidates.js";
import { monotonicNowMs } from "../../src/util/clock.js";
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
    expect(svg).toContain("a-2 [+0 x0.5]");
    expect(svg).toContain("SIGKILL &lt;leader&gt; &amp; co");
    expect(svg).not.toContain("<leader>");
  });
});

/** A stand-in for a RegentProcess: events and change listeners only. */
function fakeProc(id: string) {
  const listeners = new Set<() => void>();
  const events: { type: string; t: number; [k: string]: unknown }[] = [];
  return {
    proc: { id, events, running: true, onChange: (f: () => void) => (listeners.add(f), () => listeners.delete(f)) } as unknown as RegentProcess,
    push(e: { type: string; t: number; [k: string]: unknown }) {
      events.push(e);
      for (const f of listeners) f();
    },
  };
}

/** What the fenced writer reads of a node: its events and its act log (times unskewed). */
function actLog(proc: RegentProcess, actsFile: string): ActSource {
  return { id: proc.id, events: proc.events, actsFile, at: (e) => e.t, toShared: (t) => t };
}

describe("drill clock mapping and fenced writer", () => {
  it("maps a faked monotonic clock (offset and rate) back onto the shared clock from arrival stamps", () => {
    const f = fakeProc("skewed");
    const node = new SharedClockMap(f.proc, "+1h x0.5");
    const A = 1.7e12;
    const before = monotonicNowMs();
    // Printed just before arrival: fake = A + 0.5 × real
    for (let i = 0; i < 5; i++) f.push({ type: "renewed", t: A + 0.5 * (monotonicNowMs() - 0.05) });
    const real = before + 123;
    expect(Math.abs(node.toShared(A + 0.5 * real) - real)).toBeLessThan(2);
    const plain = new SharedClockMap(fakeProc("plain").proc);
    expect(plain.toShared(42)).toBe(42);
  });

  it("offers scope acts to a store that keeps the highest token, counts outcomes, audits deposed writes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "regent-writer-"));
    try {
      const highest = new Map<string, number>();
      const store = {
        write: async (scope: string, token: number) => {
          if (token < (highest.get(scope) ?? 0)) return "stale";
          highest.set(scope, token);
          return "accepted";
        },
      } as unknown as FencedKv;
      const oldP = fakeProc("old");
      const newP = fakeProc("new");
      const oldN = actLog(oldP.proc, join(dir, "old.acts"));
      const newN = actLog(newP.proc, join(dir, "new.acts"));
      const act = (t: number, id: string, token: number) => JSON.stringify({ t, id, lease: "scope/a", token }) + "\n";
      writeFileSync(oldN.actsFile, act(10, "old", 3) + act(15, "old", 3) + JSON.stringify({ t: 12, id: "old", lease: "region/a", token: 1 }) + "\n");
      const writer = new DemoWriter(store, () => [oldN, newN]);
      await writer.stop(); // one pass: the old holder's two acts are accepted
      newP.push({ type: "scope-held", scope: "a", token: 9, t: 20 });
      writeFileSync(newN.actsFile, act(21, "new", 9));
      appendFileSync(oldN.actsFile, act(22, "old", 3) + act(23, "old", 3) + '{"torn');
      await writer.stop(); // claim first, then acts: the old holder's late acts are rejected
      expect(writer.counts).toMatchObject({ offered: 5, accepted: 3, rejectedStale: 2, claims: 1 });
      expect(writer.counts.perScope.a).toEqual({ accepted: 3, rejectedStale: 2, highest: 9 });
      const intervals = [
        { lease: "scope/a", holder: "old", token: 3, start: 0, end: 12 },
        { lease: "scope/a", holder: "new", token: 9, start: 20, end: 30 },
      ];
      // The act at 15 was accepted but is past the old holder's own end (12): a deposed write.
      expect(writer.audit(intervals)).toMatchObject({ safe: 1, unsafe: 0 });
      expect(writer.audit(intervals, ["scope/a"])).toMatchObject({ safe: 0, unsafe: 1 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
