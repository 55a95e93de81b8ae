import { describe, expect, it } from "vitest";

import { ConfigError } from "../../src/errors.js";
import { startStallMonitor, type Stall } from "../../src/observability/stall.js";

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin: block the event loop on purpose
  }
}

describe("startStallMonitor", () => {
  it("reports exactly one stall for one ~400 ms block", async () => {
    const stalls: Stall[] = [];
    let resolveFirst!: (s: Stall) => void;
    const first = new Promise<Stall>((r) => (resolveFirst = r));
    const mon = startStallMonitor({
      intervalMs: 50,
      thresholdMs: 200,
      onStall: (s) => {
        stalls.push(s);
        resolveFirst(s);
      },
    });
    try {
      // Let the probe run a couple of times so the block starts mid-interval.
      await new Promise((r) => setTimeout(r, 120));
      const before = performance.now();
      busyWait(400);
      const s = await first;
      expect(s.durationMs).toBeGreaterThanOrEqual(300);
      expect(s.durationMs).toBeLessThan(2000);
      expect(s.at).toBeGreaterThan(0);
      // A few more probe periods: the single block must not count twice.
      await new Promise((r) => setTimeout(r, 200));
      expect(stalls).toHaveLength(1);
      const st = mon.stats();
      expect(st.stalls).toBe(1);
      expect(st.maxStallMs).toBe(s.durationMs);
      expect(st.lastStallAt).toBe(s.at);
      expect(performance.now() - before).toBeGreaterThanOrEqual(400);
      // The histogram saw the block too (its resolution is 10 ms).
      expect(st.loopDelay?.maxMs ?? 0).toBeGreaterThanOrEqual(300);
    } finally {
      mon.stop();
    }
  });

  it("reports nothing while the loop is idle and stops cleanly", async () => {
    let called = 0;
    const mon = startStallMonitor({ intervalMs: 20, thresholdMs: 200, onStall: () => called++ });
    await new Promise((r) => setTimeout(r, 150));
    mon.stop();
    mon.stop();
    expect(called).toBe(0);
    expect(mon.stats()).toMatchObject({ stalls: 0, maxStallMs: 0 });
    expect(mon.stats().lastStallAt).toBeUndefined();
  });

  it("rejects invalid options", () => {
    expect(() => startStallMonitor({ intervalMs: 0 })).toThrow(ConfigError);
    expect(() => startStallMonitor({ thresholdMs: Number.NaN })).toThrow(ConfigError);
  });
});
