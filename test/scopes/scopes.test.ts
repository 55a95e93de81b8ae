import { afterEach, describe, expect, it } from "vitest";
import { REGIONS, ScopesWorld } from "../../src/sim/scopes-world.js";

let w: ScopesWorld;
afterEach(async () => w && (await w.stopAll()));

async function world(seed = 7, failbackAfterMs = 4000): Promise<ScopesWorld> {
  w = new ScopesWorld(seed, failbackAfterMs);
  for (const r of REGIONS) for (const i of [1, 2]) w.add(r.name, `${r.name}-${i}`);
  await w.until(() => REGIONS.every((r) => w.holderOf(r.name)?.node.region === r.name), 20_000, "every scope held at home");
  return w;
}

describe("region-scoped leases (SimulatedClock, memory stores)", () => {
  it("grants each region's scope to its own regional leader; the lessee renews it", async () => {
    await world();
    for (const r of REGIONS) expect(w.holderOf(r.name)!.node.id).toBe(w.regionalLeader(r.name)!.node.id);
    const before = REGIONS.map((r) => w.holderOf(r.name)!.node.scope(r.name).token);
    await w.advance(10_000);
    expect(REGIONS.map((r) => w.holderOf(r.name)?.node.scope(r.name).token)).toEqual(before);
    expect(w.scopeEvents.filter((e) => e.kind === "granted").every((e) => e.reason === "initial")).toBe(true);
  });

  it("region loss: the scope fails over to the next live region with a new token; failback after the window", async () => {
    await world();
    // Lose a region that is not the global leader's, so the authority stays put.
    const lost = REGIONS.map((r) => r.name).find((r) => r !== w.globalLeader()!.node.region)!;
    const spec = REGIONS.find((r) => r.name === lost)!;
    const oldToken = w.holderOf(lost)!.node.scope(lost).token!;
    const cutAt = w.clock.now();
    w.partition(lost, true);
    const took = await w.until(() => !!w.holderOf(lost) && w.holderOf(lost)!.node.region !== lost, 20_000, "failover");
    const holder = w.holderOf(lost)!;
    const expectedTarget = spec.failover.find((r) => r !== lost)!;
    expect(holder.node.region).toBe(expectedTarget);
    expect(holder.node.scope(lost).token!).toBeGreaterThan(oldToken);
    // Bound: the lessee's lease runs out (≤ scope lease after its last renewal), the authority waited a full lease, then grant + confirm.
    expect(took).toBeLessThanOrEqual(3000 + 3000 + 500);
    expect(cutAt).toBeLessThan(w.clock.now());

    // Region back: it must be healthy for failbackAfterMs before the scope returns.
    w.partition(lost, false);
    const healedAt = w.clock.now();
    await w.until(() => w.holderOf(lost)?.node.region === lost, 30_000, "failback");
    expect(w.clock.now() - healedAt).toBeGreaterThanOrEqual(4000);
    const fb = w.scopeEvents.filter((e) => e.kind === "granted" && e.scope === lost).at(-1)!;
    expect(fb.reason).toBe("failback");
    expect(fb.from?.region).toBe(expectedTarget);
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])("losing the authority's own region: its scope goes to the first failover choice, not the new authority's region (seed %i)", async (seed) => {
    await world(seed);
    const lost = w.globalLeader()!.node.region;
    const spec = REGIONS.find((r) => r.name === lost)!;
    w.partition(lost, true);
    await w.until(() => !!w.holderOf(lost) && w.holderOf(lost)!.node.region !== lost, 30_000, "failover");
    expect(w.holderOf(lost)!.node.region).toBe(spec.failover[0]);
  });

  it("a flapping home region does not pull its scope back and forth (hysteresis)", async () => {
    await world(11, 4000);
    const lost = REGIONS.map((r) => r.name).find((r) => r !== w.globalLeader()!.node.region)!;
    w.partition(lost, true);
    await w.until(() => !!w.holderOf(lost) && w.holderOf(lost)!.node.region !== lost, 20_000, "failover");
    const grantsBefore = w.scopeEvents.filter((e) => e.kind === "granted" && e.scope === lost).length;
    // Flap: up 1.5 s, down 1.5 s, several times — never healthy for the 4 s window.
    for (let i = 0; i < 5; i++) {
      w.partition(lost, false);
      await w.advance(1500);
      w.partition(lost, true);
      await w.advance(1500);
    }
    const grants = w.scopeEvents.filter((e) => e.kind === "granted" && e.scope === lost);
    expect(grants.length, JSON.stringify(grants.map((g) => [g.region, g.node, g.reason]))).toBe(grantsBefore);
    expect(w.holderOf(lost)!.node.region).not.toBe(lost);
  });

  it("a regional leader change moves the scope to the new leader with a new token", async () => {
    await world(3);
    const region = "us";
    const old = w.holderOf(region)!;
    const oldToken = old.node.scope(region).token!;
    await old.node.resign("region");
    await w.until(() => !!w.holderOf(region) && w.holderOf(region)!.node.id !== old.node.id, 10_000, "scope follows");
    const now = w.holderOf(region)!;
    expect(now.node.region).toBe(region);
    expect(now.node.scope(region).token!).toBeGreaterThan(oldToken);
  });

  it("a global leader change moves no scope while lessees are healthy", async () => {
    await world(5);
    const g = w.globalLeader()!;
    const tokens = REGIONS.map((r) => w.holderOf(r.name)!.node.scope(r.name).token);
    // Distinct grants: a new quorum authority announces the term it finds on a majority
    // again (the events stream drops the copy by message id), but grants nothing new.
    const grantsOf = () => new Set(w.scopeEvents.filter((e) => e.kind === "granted").map((e) => `${e.scope}#${e.token}`));
    const grants = grantsOf();
    await g.node.resign("global");
    await w.until(() => !!w.globalLeader() && w.globalLeader() !== g, 10_000, "new global leader");
    await w.advance(12_000); // several scope leases under the new authority
    expect(REGIONS.map((r) => w.holderOf(r.name)?.node.scope(r.name).token)).toEqual(tokens);
    expect(grantsOf()).toEqual(grants);
  });

  it("a move asked of a brand-new authority waits until it has seen the target region live, then succeeds", async () => {
    await world(5);
    const old = w.globalLeader()!;
    void old.node.resign("global");
    await w.until(() => !!w.globalLeader() && w.globalLeader() !== old, 20_000, "new global leader", 1);
    const g = w.globalLeader()!;
    // At once: the new authority has not yet seen any region's leader renew.
    const scope = REGIONS.map((r) => r.name).find((r) => r !== g.node.region)!;
    const to = REGIONS.map((r) => r.name).find((r) => r !== scope && r !== g.node.region)!;
    const moved = g.node.moveScope(scope, to);
    let result: Awaited<typeof moved> | undefined;
    let error: unknown;
    moved.then((r) => (result = r), (e: unknown) => (error = e));
    await w.until(() => !!result || !!error, 10_000, "move settled", 1);
    expect(error).toBeUndefined();
    expect(result!.region).toBe(to);
    expect(w.holderOf(scope)!.node.region).toBe(to);
  });

  it("manual move and manual failback: recall, release, grant — zero overlap", async () => {
    await world(9);
    // A new authority takes a release at once only on stores it has watched for a
    // scope lease (docs/quorum.md, Q3): let it settle, then time the hand-over.
    await w.advance(3_000);
    const g = w.globalLeader()!;
    const from = w.holderOf(REGIONS.map((r) => r.name).find((r) => r !== g.node.region)!)!;
    const scope = REGIONS.map((r) => r.name).find((r) => r !== g.node.region)!;
    const to = REGIONS.map((r) => r.name).find((r) => r !== scope)!;
    const oldToken = w.holderOf(scope)!.node.scope(scope).token!;
    const moved = g.node.moveScope(scope, to);
    let result: Awaited<typeof moved> | undefined;
    void moved.then((r) => (result = r));
    const took = await w.until(() => !!result, 10_000, "manual move", 1);
    expect(result!.region).toBe(to);
    expect(w.holderOf(scope)!.node.region).toBe(to);
    expect(w.holderOf(scope)!.node.scope(scope).token!).toBeGreaterThan(oldToken);
    // A hand-over, not a lease expiry: the old lessee sees the recall on a read
    // (within its renewal period), releases, and the new one holds within ms.
    expect(took).toBeLessThan(3000);
    const ended = from.events.findLast((e) => e.type === "scope-ended" && e.scope === scope)!;
    const held = w.holderOf(scope)!.events.findLast((e) => e.type === "scope-held" && e.scope === scope)!;
    expect(held.t - ended.t).toBeLessThan(500);
    const back = g.node.moveScope(scope, scope, "failback");
    let r2: Awaited<typeof back> | undefined;
    void back.then((r) => (r2 = r));
    await w.until(() => !!r2, 10_000, "manual failback", 1);
    expect(w.holderOf(scope)!.node.region).toBe(scope);
    await expect(w.nodes.find((n) => !n.node.global().held)!.node.moveScope(scope, to)).rejects.toThrow(/global leader/);
  });
});
