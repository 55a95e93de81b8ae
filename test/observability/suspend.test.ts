/**
 * Host suspend: CLOCK_MONOTONIC stops, CLOCK_BOOTTIME does not. The detector
 * compares the two; the stall monitor, whose timers run on the stopped clock
 * and so see no lag at all, reports what the detector finds.
 */
import { describe, expect, it } from "vitest";
import { bootTimeMs, createSuspendDetector } from "../../src/observability/suspend.js";
import { startStallMonitor, type Stall } from "../../src/observability/stall.js";

/** Two fake clocks: `tick` advances both, `suspend` only BOOTTIME. */
function clocks() {
  const c = { boot: 50_000, mono: 1_000 };
  return {
    c,
    boottimeMs: () => c.boot,
    monotonicMs: () => c.mono,
    tick: (ms: number) => ((c.boot += ms), (c.mono += ms)),
    suspend: (ms: number) => (c.boot += ms),
  };
}

describe("createSuspendDetector", () => {
  it("reports suspended time once, and nothing while both clocks advance together", () => {
    const k = clocks();
    const d = createSuspendDetector(k);
    k.tick(10_000);
    expect(d.check()).toBe(0);
    k.suspend(5_000);
    k.tick(3);
    expect(d.check()).toBe(5_000);
    k.tick(10_000);
    expect(d.check()).toBe(5_000); // not again
    k.suspend(1_500);
    expect(d.check()).toBe(6_500); // cumulative
  });

  it("ignores read noise below the tolerance, but small suspensions add up until they cross it", () => {
    const k = clocks();
    const d = createSuspendDetector({ ...k, toleranceMs: 30 });
    k.suspend(10); // /proc/uptime's 10 ms resolution
    expect(d.check()).toBe(0);
    k.c.boot -= 10;
    expect(d.check()).toBe(0);
    for (let i = 0; i < 3; i++) k.suspend(12);
    expect(d.check()).toBe(36);
  });

  it("the default BOOTTIME source is os.uptime(): close to /proc/uptime, and advancing with CLOCK_MONOTONIC", async () => {
    const { readFileSync } = await import("node:fs");
    const proc = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 1000;
    expect(Math.abs(bootTimeMs() - proc)).toBeLessThan(1_000);
    const d = createSuspendDetector();
    await new Promise((r) => setTimeout(r, 100));
    expect(d.check()).toBe(0);
  });
});

describe("stall monitor and host suspend", () => {
  it("reports a suspend as a stall although the monotonic clock (and so the timer) saw no lag", async () => {
    const k = clocks();
    const detector = createSuspendDetector(k);
    let got!: (s: Stall) => void;
    const stalled = new Promise<Stall>((r) => (got = r));
    // `now` is the fake monotonic clock: timer drift as seen by it is zero.
    const mon = startStallMonitor({ intervalMs: 10, thresholdMs: 200, now: k.monotonicMs, histogram: false, suspend: detector, onStall: (s) => got(s) });
    try {
      k.suspend(7_000);
      const s = await stalled;
      expect(s.suspendedMs).toBe(7_000);
      expect(s.durationMs).toBeGreaterThanOrEqual(7_000);
      expect(mon.stats().stalls).toBe(1);
    } finally {
      mon.stop();
    }
  });
});
