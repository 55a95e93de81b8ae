/**
 * Issue 13 item 1 for scopes: a lessee and an authority with different scope
 * lease lengths (a rolling change of `scopes.leaseMs`). The authority must
 * wait the lessee's lease, as written in the lessee's own record, before it
 * re-grants a scope that stopped renewing.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { QuorumScopeAuthority } from "../../src/scopes/quorum-authority.js";
import { REGIONS, ScopesWorld } from "../../src/sim/scopes-world.js";

let w: ScopesWorld;
afterEach(async () => w && (await w.stopAll()));

describe("mixed scope lease lengths (SimulatedClock, memory stores)", () => {
  it("an authority on a 3 s scope lease does not re-grant a scope whose lessee (10 s lease) is still valid", async () => {
    w = new ScopesWorld(41);
    // The eu nodes start first, so the authority runs on an eu node with the 3 s scope lease.
    for (const i of [1, 2]) w.add("eu", `eu-${i}`, { scopeLeaseMs: 3000 });
    await w.until(() => w.globalLeader()?.node.region === "eu", 10_000, "eu global leader");
    for (const r of ["us", "ap"]) for (const i of [1, 2]) w.add(r, `${r}-${i}`, { scopeLeaseMs: 10_000 });
    await w.until(() => REGIONS.every((r) => w.holderOf(r.name)?.node.region === r.name), 20_000, "every scope held at home");
    expect(w.globalLeader()!.node.region).toBe("eu");
    const lessee = w.holderOf("us")!;
    await w.advance(500);
    // Its link to the global bucket breaks; its region (and regional lease) stays up.
    lessee.globalLink.setDown(true);
    const validUntil = lessee.node.scope("us").validUntil;
    // ScopesWorld.check (run on every step) fails at once if two nodes hold the scope.
    await w.until(() => !!w.holderOf("us") && w.holderOf("us") !== lessee, 30_000, "re-grant");
    expect(w.clock.now()).toBeGreaterThanOrEqual(validUntil);
    expect(w.holderOf("us")!.node.scope("us").token!).toBeGreaterThan(w.holders.get("us")![0]!.token);
  });

  it("a newly started authority with the shorter lease honours the longer lease of the record it finds", async () => {
    w = new ScopesWorld(42);
    // Everyone on 10 s scope leases, except the eu nodes (3 s) that will become the authority later.
    for (const r of ["us", "ap"]) for (const i of [1, 2]) w.add(r, `${r}-${i}`, { scopeLeaseMs: 10_000 });
    await w.until(() => ["us", "ap"].every((r) => w.holderOf(r)?.node.region === r), 20_000, "us and ap scopes held");
    for (const i of [1, 2]) w.add("eu", `eu-${i}`, { scopeLeaseMs: 3000 });
    await w.until(() => w.holderOf("eu")?.node.region === "eu", 20_000, "eu scope held");
    // Move the authority to eu.
    await w.moveGlobalTo("eu");
    const scope = ["us", "ap"].find((r) => w.holderOf(r))!;
    const lessee = w.holderOf(scope)!;
    lessee.globalLink.setDown(true);
    const validUntil = lessee.node.scope(scope).validUntil;
    await w.until(() => !!w.holderOf(scope) && w.holderOf(scope) !== lessee, 30_000, "re-grant");
    expect(w.clock.now()).toBeGreaterThanOrEqual(validUntil);
  });
});

describe("region liveness under a regional lease longer than the topology's", () => {
  it("a region whose leader runs a 9 s lease (renewing every 3 s) stays live, though the topology says 2 s", async () => {
    w = new ScopesWorld(44);
    for (const r of REGIONS) for (const i of [1, 2]) w.add(r.name, `${r.name}-${i}`, r.name === "us" ? { regionalLeaseMs: 9_000 } : {});
    await w.until(() => REGIONS.every((r) => w.holderOf(r.name)?.node.region === r.name), 30_000, "every scope held at home");
    const authority = (w.globalLeader()!.node as unknown as { authority: QuorumScopeAuthority }).authority;
    let samples = 0;
    let notLive = 0;
    await w.until(
      () => {
        samples++;
        if (!authority.live("us")) notLive++;
        return samples >= 1_000;
      },
      20_000,
      "samples",
    );
    expect(notLive, `us judged not live in ${notLive} of ${samples} samples`).toBe(0);
  });
});

describe("scope renewal attempts (issue 13 item 3)", () => {
  it("a lessee's renewal that never answers is abandoned in time; the retry keeps the scope term", async () => {
    w = new ScopesWorld(43);
    for (const r of REGIONS) for (const i of [1, 2]) w.add(r.name, `${r.name}-${i}`);
    await w.until(() => REGIONS.every((r) => w.holderOf(r.name)?.node.region === r.name), 20_000, "every scope held at home");
    const lessee = w.holderOf("us")!;
    const term = lessee.node.scope("us");
    const ended: unknown[] = [];
    lessee.node.on((e) => e.type === "scope-ended" && e.scope === "us" && ended.push(e));
    // Its next write of scope.us (the renewal) is lost: no reply, ever.
    lessee.globalLink.hangNext((op, key) => op === "update" && key === "scope.us");
    await w.advance(6_000); // two scope leases
    expect(ended).toEqual([]);
    expect(w.holderOf("us")).toBe(lessee);
    expect(lessee.node.scope("us").token).toBe(term.token);
    expect(lessee.node.scope("us").validUntil).toBeGreaterThan(term.validUntil + 3_000);
  });
});
