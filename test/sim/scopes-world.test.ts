/**
 * The stepped scope world checks its invariants after every step, also while
 * a test only lets time pass (`advance`): a violation there must fail the
 * test, not be swallowed with the "not reached" of the idle wait.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ScopesWorld } from "../../src/sim/scopes-world.js";

let w: ScopesWorld | undefined;
afterEach(async () => {
  await w?.stopAll().catch(() => undefined);
  w = undefined;
});

describe("ScopesWorld", () => {
  it("advance rejects when an invariant breaks while time passes", async () => {
    w = new ScopesWorld(7);
    const start = w.clock.now();
    const world = w;
    const check = world.check.bind(world);
    // A stand-in violation half-way through the wait.
    world.check = () => {
      if (world.clock.now() - start >= 500) throw new Error("invariant violated: planted");
      check();
    };
    await expect(world.advance(1_000)).rejects.toThrow(/planted/);
    world.check = check;
  });

  it("advance resolves after the given time when every invariant holds", async () => {
    w = new ScopesWorld(7);
    const start = w.clock.now();
    await w.advance(1_000);
    expect(w.clock.now() - start).toBeGreaterThanOrEqual(1_000);
  });
});
