import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { resolveTiming } from "../../src/election/timing.js";

describe("resolveTiming", () => {
  it("derives attemptMs so that the first renewal may hang for a whole attempt and still leave one retry", () => {
    for (const leaseMs of [300, 2_000, 3_000, 10_000, 60_000]) {
      const t = resolveTiming({ leaseMs });
      expect(t.attemptMs).toBeGreaterThan(0);
      expect(t.attemptMs).toBeLessThanOrEqual(2_000);
      expect(t.renewMs + 2 * (t.attemptMs + t.retryMs)).toBeLessThanOrEqual(t.validForMs);
    }
    // The shipped timings (regions/*.json, the node CLI defaults).
    expect(resolveTiming({ leaseMs: 2_000 }).attemptMs).toBe(471);
    expect(resolveTiming({ leaseMs: 3_000 }).attemptMs).toBe(705);
    expect(resolveTiming({ leaseMs: 10_000 }).attemptMs).toBe(2_000);
  });

  it("rejects an attemptMs that leaves no room for a retry before the deadline, naming the field and the rule", () => {
    // lease 2000: validFor 1940, renew 666, retry 166 → at most 471.
    expect(resolveTiming({ leaseMs: 2_000, attemptMs: 471 }).attemptMs).toBe(471);
    let err: unknown;
    try {
      resolveTiming({ leaseMs: 2_000, attemptMs: 500 }, "global.");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe("INVALID_CONFIG");
    expect((err as ConfigError).field).toBe("global.attemptMs");
    expect((err as Error).message).toMatch(/renewMs \+ 2 × \(attemptMs \+ retryMs\)/);
  });

  it("rejects renew and retry intervals that leave no room for two attempts, naming the option that was set", () => {
    // validFor 1940, renew 900: a retry interval of 600 leaves no room even for 1 ms attempts.
    expect(() => resolveTiming({ leaseMs: 2_000, renewMs: 900, retryMs: 600 })).toThrow(/retryMs: .*renewMs \+ 2 × \(attemptMs \+ retryMs\)/);
    expect(() => resolveTiming({ leaseMs: 2_000, renewMs: 900, attemptMs: 400 })).toThrow(/attemptMs: .*room for a retry/);
    // The defaults always leave room (validFor ≥ 2 × renewMs and retryMs ≤ renewMs / 4).
    expect(resolveTiming({ leaseMs: 2_000, renewMs: 960 }).attemptMs).toBeGreaterThan(0);
    expect(() => resolveTiming({ leaseMs: 2_000, attemptMs: 0 })).toThrow(/attemptMs: must be in/);
  });
});
