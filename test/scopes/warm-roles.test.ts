/**
 * The global election and the scope authority watch from a node's start
 * (hierarchy/node-machine.ts), so their full-lease waits have already run
 * when the node needs them. Before, they started on promotion and the waits
 * added up: start-up took 2 + 3 + 3 s of vacant-store waits, and a new global
 * leader waited a scope lease of its own before moving a lost region's scope.
 * Leases: regional 2 s, global 3 s, scope 3 s.
 */
import { afterEach, describe, expect, it } from "vitest";
import { REGIONS, ScopesWorld } from "../../src/sim/scopes-world.js";

let w: ScopesWorld;
afterEach(async () => w && (await w.stopAll()));

const allHome = () => REGIONS.every((r) => w.holderOf(r.name)?.node.region === r.name);

describe("roles that watch before they are needed", () => {
  it("start-up: every scope is held within a scope lease and a second of the start (the vacant waits overlap)", async () => {
    w = new ScopesWorld(7, 4000);
    for (const r of REGIONS) for (const i of [1, 2]) w.add(r.name, `${r.name}-${i}`);
    const took = await w.until(allHome, 20_000, "every scope held at home");
    expect(took).toBeLessThanOrEqual(3000 + 1000);
  });

  it("losing the global leader's region: its scope is held elsewhere within a global lease and a second", async () => {
    w = new ScopesWorld(9, 4000);
    for (const r of REGIONS) for (const i of [1, 2]) w.add(r.name, `${r.name}-${i}`);
    await w.until(allHome, 20_000, "every scope held at home");
    await w.advance(5000);
    const lost = w.globalLeader()!.node.region;
    w.partition(lost, true);
    const took = await w.until(() => !!w.holderOf(lost) && w.holderOf(lost)!.node.region !== lost, 20_000, "failover");
    expect(w.globalLeader()!.node.region).not.toBe(lost);
    expect(took).toBeLessThanOrEqual(3000 + 1000);
  });
});
