/**
 * `RegentNode.moveScope` takes an AbortSignal: an aborted wait rejects with
 * the coded AbortedError, and a move already asked for still goes on (its
 * answer is simply not awaited).
 */
import { afterEach, describe, expect, it } from "vitest";
import { AbortedError } from "../../src/index.js";
import { REGIONS, ScopesWorld } from "../../src/sim/scopes-world.js";

let w: ScopesWorld;
afterEach(async () => w && (await w.stopAll()));

async function world(seed: number): Promise<ScopesWorld> {
  w = new ScopesWorld(seed, 4000);
  for (const r of REGIONS) for (const i of [1, 2]) w.add(r.name, `${r.name}-${i}`);
  await w.until(() => REGIONS.every((r) => w.holderOf(r.name)?.node.region === r.name), 20_000, "every scope held at home");
  await w.advance(3_000);
  return w;
}

describe("moveScope with an AbortSignal (SimulatedClock, memory stores)", () => {
  it("an already-aborted signal rejects at once with ABORTED and moves nothing", async () => {
    await world(9);
    const g = w.globalLeader()!;
    const scope = REGIONS.map((r) => r.name).find((r) => r !== g.node.region)!;
    const to = REGIONS.map((r) => r.name).find((r) => r !== scope)!;
    const token = w.holderOf(scope)!.node.scope(scope).token;
    let err: unknown;
    let result: unknown;
    g.node.moveScope(scope, to, "manual", { signal: AbortSignal.abort() }).then(
      (r) => (result = r),
      (e: unknown) => (err = e),
    );
    await w.until(() => err !== undefined || result !== undefined, 10_000, "move settled", 1);
    expect(result).toBeUndefined();
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as AbortedError).code).toBe("ABORTED");
    await w.advance(5_000);
    expect(w.holderOf(scope)!.node.region).toBe(scope);
    expect(w.holderOf(scope)!.node.scope(scope).token).toBe(token);
  });

  it("aborting a move in flight rejects it with ABORTED; the move asked for still completes", async () => {
    await world(9);
    const g = w.globalLeader()!;
    const scope = REGIONS.map((r) => r.name).find((r) => r !== g.node.region)!;
    const to = REGIONS.map((r) => r.name).find((r) => r !== scope)!;
    const ac = new AbortController();
    let error: unknown;
    let result: unknown;
    g.node.moveScope(scope, to, "manual", { signal: ac.signal }).then(
      (r) => (result = r),
      (e: unknown) => (error = e),
    );
    // Asked for, not yet carried out (recall, release, grant take rounds of the simulated clock).
    await Promise.resolve();
    expect(w.holderOf(scope)!.node.region).toBe(scope);
    ac.abort(new Error("operator gave up"));
    await w.until(() => error !== undefined || result !== undefined, 1_000, "move settled", 1);
    expect(result).toBeUndefined();
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as AbortedError).code).toBe("ABORTED");
    expect((error as AbortedError).message).toBe(`move of ${scope} to ${to} aborted`);
    expect((error as Error).cause).toEqual(new Error("operator gave up"));
    await w.until(() => w.holderOf(scope)?.node.region === to, 10_000, "the move goes on", 1);
  });
});
