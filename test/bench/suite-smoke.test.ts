/**
 * Smoke test of the benchmark suite (`bench/run.ts --quick`): every benchmark
 * runs once at a tiny size and its result has the documented shape; the
 * generated BENCHMARKS.md section renders and splices between its markers.
 * Nothing is written to bench/results/ or BENCHMARKS.md. To stay well under
 * a minute, two halves run side by side (their figures are not asserted
 * beyond loose bounds, so the shared CPU does not matter here).
 *
 * etcd: without an etcd binary the comparison runs regent only (logged),
 * unless CI is set, where .ci/run must have installed etcd-server and its
 * absence is a failure.
 */
import { describe, expect, it } from "vitest";
import type { CompareResult } from "../../bench/compare.js";
import { findEtcd } from "../../bench/etcd.js";
import type { IdleResult } from "../../bench/idle.js";
import type { RegionsResult } from "../../bench/regions.js";
import { BEGIN, END, renderSection, spliceSection } from "../../bench/report.js";
import { runSuite } from "../../bench/run.js";
import type { ScaleResult } from "../../bench/scale.js";
import type { Stats } from "../../bench/stats.js";
import type { StreamLeaderResult } from "../../bench/stream-leader.js";

function expectStats(s: Stats, n: number): void {
  expect(s.n).toBe(n);
  expect(s.min).toBeLessThanOrEqual(s.median);
  expect(s.median).toBeLessThanOrEqual(s.p99);
  expect(s.p99).toBeLessThanOrEqual(s.max);
}

const haveEtcd = findEtcd() !== undefined;
const ci = !!process.env.CI;
if (!haveEtcd && !ci) console.log("suite-smoke: etcd not installed: the comparison runs regent only (apt-get install etcd-server to include etcd)");

describe("bench/run.ts --quick", () => {
  it("runs every benchmark once at a tiny size, with results of the documented shape", async () => {
    const lines: string[] = [];
    const common = { quick: true, outDir: null, markdown: null, skipEtcd: !haveEtcd && !ci, installEtcd: false, log: (l: string) => lines.push(l) };
    const [a, b] = await Promise.all([
      runSuite({ ...common, only: ["compare", "scale", "idle"] }),
      runSuite({ ...common, only: ["regions", "stream-leader"] }),
    ]);
    const r = { ...a, ...b };

    // -- compare: regent (and etcd) handover and crash failover
    const c = r.compare!.result as CompareResult;
    expect(r.compare!.machine.cores).toBeGreaterThan(0);
    expect(c.settings).toMatchObject({ quick: true, candidates: 3, handoverRounds: 1, leasesMs: [2000], crashRounds: [1] });
    const withEtcd = haveEtcd || ci;
    if (withEtcd) expect(c.etcdSkipped, "with CI set, .ci/run must install etcd-server").toBeNull();
    else expect(c.etcdSkipped).toMatch(/skipped/);
    const h = c.handover[0]!;
    expectStats(h.regent.deposedToElectedMs, 1);
    for (const x of h.regent.rounds) {
      expect(x.to).not.toBe(x.from);
      expect(x.deposedToElectedMs).toBeGreaterThanOrEqual(0);
      expect(x.deposedToElectedMs).toBeLessThan(2000);
      // The hop chain (`--trace-handover`) sums to the handover: deposed → … → elected.
      const hp = x.hops!;
      const chain = hp.releaseSend + hp.watchDelivery + hp.casSend + hp.casAck + hp.electedEmit;
      expect(chain).toBeCloseTo(x.deposedToElectedMs, 0);
      for (const v of Object.values(hp)) expect(v).toBeGreaterThanOrEqual(0);
    }
    expect(Object.keys(h.regent.hops!)).toEqual(["stdin", "deposed", "releaseSend", "watchDelivery", "casSend", "casAck", "electedEmit", "releaseAck"]);
    const f = c.failover[0]!;
    expectStats(f.regent.failoverMs, 1);
    expect(f.regent.rounds[0]!.failoverMs).toBeGreaterThan(2000 - f.regent.renewMs - 100);
    expect(f.regent.rounds[0]!.failoverMs).toBeLessThan(3 * 2000);
    // Its parts (docs/safety.md, "Crash failover time"): observed − kill + wait + CAS = failover; the wait is a full lease at least.
    const fr = f.regent.rounds[0]!;
    expect(fr.waitMs!).toBeGreaterThanOrEqual(2000 - 1);
    expect(fr.observedAfterKillMs! + fr.waitMs! + fr.casMs!).toBeCloseTo(fr.failoverMs, 0);
    expect(f.regent.parts!.waitOverLeaseMs.n).toBe(1);
    if (withEtcd) {
      expect(c.versions.etcd).toMatch(/^\d+\.\d+/);
      expectStats(h.etcd!.deposedToElectedMs, 1);
      expect(h.ratio!.median).toBeGreaterThan(0);
      expectStats(f.etcd!.failoverMs, 1);
      expect(f.etcd!.rounds[0]!.failoverMs).toBeGreaterThan(500);
      expect(f.etcd!.rounds[0]!.failoverMs).toBeLessThan(3 * 2000 + 1000);
      expect(f.ratio!.median).toBeGreaterThan(0);
    } else {
      expect(h.etcd).toBeNull();
      expect(f.etcd).toBeNull();
    }

    // -- regions: one region loss on the light supercluster
    const g = r.regions!.result as RegionsResult;
    expect(g.runs).toHaveLength(1);
    const run = g.runs[0]!;
    // The first run loses the global leader's region.
    expect(run.lostGlobal).toBe(true);
    expect(run.globalLeaderAfter.startsWith(`${run.lostRegion}-`)).toBe(false);
    expect(run.scopeHolder.startsWith(`${run.lostRegion}-`)).toBe(false);
    expect(run.toGlobalElectedMs).toBeGreaterThan(0);
    expect(run.toScopeHeldMs).toBeGreaterThan(0);
    expect(Array.isArray(run.lapsesElsewhere)).toBe(true);
    expectStats(g.toGlobalElectedMs!, 1);
    expectStats(g.toScopeHeldMs, 1);

    // -- stream-leader loss on a 3-server cluster
    const s = (r["stream-leader"]!.result as StreamLeaderResult).configs;
    expect(s).toHaveLength(1);
    expect(s[0]!.settings).toMatchObject({ leaseMs: 10000, renewMs: 1000, replicas: 3 });
    expect(s[0]!.kills).toHaveLength(1);
    expect(s[0]!.kills[0]!.newStreamLeader).not.toBe(s[0]!.kills[0]!.streamLeader);
    expect(s[0]!.kills[0]!.longestRenewalGapMs).toBeGreaterThan(0);
    expect(s[0]!.leadershipChanges).toBeGreaterThanOrEqual(0);

    // -- scale: tiny N, both layouts
    const sc = r.scale!.result as ScaleResult;
    expect(sc.cases).toHaveLength(2);
    for (const x of sc.cases) {
      expect(x.leadersAtEnd).toBe(x.n);
      expect(x.renewLatencyMs!.n).toBeGreaterThan(0);
      expect(x.regent.cpuCores).toBeGreaterThanOrEqual(0);
      expect(x.regent.rssMiB).toBeGreaterThan(10);
      expect(x.nats!.rssMiB).toBeGreaterThan(1);
      expect(x.opsPerSec.update).toBeGreaterThan(0);
    }

    // -- idle: one elect process
    const i = r.idle!.result as IdleResult;
    expect(i.regent.rssMiBEnd).toBeGreaterThan(10);
    expect(i.regent.cpuCores).toBeGreaterThanOrEqual(0);
    expect(i.regent.cpuCores).toBeLessThan(1);
    expect(i.nats.rssMiBEnd).toBeGreaterThan(1);
    // `regent node` processes of the light supercluster (1 per region quick); compiled (dist/ fresh), no child process (tsx's esbuild).
    expect(i.node!.processes).toBe(3);
    expect(i.node!.rssMiBEnd.median).toBeGreaterThan(10);
    expect(typeof i.compiled).toBe("boolean");
    if (i.compiled) expect([i.regent.childProcesses, i.node!.childProcesses]).toEqual([0, 0]);
    expect(i.bareNodeRssMiB!).toBeGreaterThan(5);

    // -- report: renders every section and splices between the markers only
    const section = renderSection(r);
    for (const title of ["Machine and versions", "handover and crash failover", "Region loss", "stream-leader loss", "Scale", "Idle cost"]) expect(section).toContain(title);
    const doc = spliceSection(`# B\n\nintro\n\n${BEGIN}\nold\n${END}\n\noutro\n`, section);
    expect(doc.startsWith("# B\n\nintro\n\n")).toBe(true);
    expect(doc.endsWith("\n\noutro\n")).toBe(true);
    expect(doc).not.toContain("\nold\n");
  }, 300_000);
});
