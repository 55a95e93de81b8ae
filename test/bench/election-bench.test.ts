/**
 * Smoke test of the election benchmark in quick mode (2 handovers, 2 crash
 * failovers at lease 1000 ms): the results have the documented shape, the
 * figures are plausible, and everything is written to the requested file.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runElectionBench, type ElectionBenchResult } from "../../bench/election.js";
import type { Stats } from "../../bench/stats.js";

const dir = mkdtempSync(join(tmpdir(), "regent-bench-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectStats(s: Stats, n: number): void {
  expect(s.n).toBe(n);
  expect(s.min).toBeLessThanOrEqual(s.median);
  expect(s.median).toBeLessThanOrEqual(s.p99);
  expect(s.p99).toBeLessThanOrEqual(s.max);
  expect(s.mean).toBeGreaterThanOrEqual(s.min);
  expect(s.mean).toBeLessThanOrEqual(s.max);
}

describe("bench/election --quick", () => {
  it("measures handover and crash failover with plausible values", async () => {
    const out = join(dir, "election.json");
    const r: ElectionBenchResult = await runElectionBench({ quick: true, out, log: () => {} });

    expect(r.benchmark).toBe("election");
    expect(r.settings).toMatchObject({ quick: true, candidates: 3, handoverRounds: 2, leasesMs: [1000], crashRounds: [2] });
    expect(r.machine.cores).toBeGreaterThan(0);
    expect(r.machine.node).toMatch(/^v\d+/);
    expect(r.machine.natsServer).toMatch(/\d+\.\d+\.\d+/);
    expect(Number.isNaN(Date.parse(r.date))).toBe(false);

    // Handover: a watching successor takes a released lease within a round trip, not a lease.
    expect(r.handover.rounds).toHaveLength(2);
    expectStats(r.handover.deposedToElectedMs, 2);
    expectStats(r.handover.resignToElectedMs, 2);
    for (const h of r.handover.rounds) {
      expect(h.to).not.toBe(h.from);
      expect(h.deposedToElectedMs).toBeGreaterThanOrEqual(0);
      expect(h.deposedToElectedMs).toBeLessThan(1000);
      // `resign` was written before the resigner reported deposed.
      expect(h.resignToElectedMs).toBeGreaterThanOrEqual(h.deposedToElectedMs);
      expect(h.resignToElectedMs).toBeLessThan(1000);
    }

    // Failover: bounded by the lease plus slack, and never faster than a
    // lease minus one renew interval (a successor must watch a full lease).
    expect(r.failover).toHaveLength(1);
    const f = r.failover[0]!;
    expect(f).toMatchObject({ leaseMs: 1000, renewMs: 333 });
    expect(f.rounds).toHaveLength(2);
    expectStats(f.failoverMs, 2);
    expectStats(f.ratio, 2);
    for (const x of f.rounds) {
      expect(x.successor).not.toBe(x.killed);
      expect(x.failoverMs).toBeGreaterThan(f.leaseMs - f.renewMs - 50);
      expect(x.failoverMs).toBeLessThan(3 * f.leaseMs);
      expect(x.ratio).toBeCloseTo(x.failoverMs / f.leaseMs, 3);
    }
    const tokens = f.rounds.map((x) => x.token);
    expect(tokens[1]!).toBeGreaterThan(tokens[0]!);

    expect(JSON.parse(readFileSync(out, "utf8"))).toEqual(JSON.parse(JSON.stringify(r)));
  }, 45_000);
});
