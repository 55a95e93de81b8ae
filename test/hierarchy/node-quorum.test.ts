/**
 * `startNode` over a quorum of three stores (SimulatedClock, memory stores):
 * the wiring rules of docs/quorum.md that the node itself must keep.
 */
import { afterEach, describe, expect, it } from "vitest";
import { SimulatedClock } from "xstate";
import { startNode, type NodeRoleEvent, type RegentNode } from "../../src/hierarchy/node.js";
import { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import type { StoreEntry } from "../../src/lease/store.js";
import { scopeViewOf } from "../../src/scopes/record.js";
import { FaultyStore } from "../../src/sim/faulty-store.js";
import { flush, prng } from "../../src/sim/election-sim.js";
import { scopeKey } from "../../src/wire/names.js";

let clock = new SimulatedClock();
let node: RegentNode | null = null;
afterEach(async () => {
  const n = node;
  node = null;
  if (!n) return;
  let done = false;
  void n.stop().then(() => (done = true));
  for (let i = 0; i < 2000 && !done; i++) {
    clock.increment(10);
    await flush();
  }
});

async function until(pred: () => boolean, maxMs: number, what: string): Promise<void> {
  const start = clock.now();
  await flush();
  while (!pred()) {
    if (clock.now() - start > maxMs) throw new Error(`${what}: not reached within ${maxMs} simulated ms`);
    clock.increment(10);
    await flush();
  }
}

describe("RegentNode on a quorum of stores", () => {
  it("never confirms a scope term twice: a grant of a term it held, found again after it lost and regained its region, is not taken", async () => {
    // The hole the quorum simulation found (docs/quorum.md, "Why scope tokens
    // strictly increase"): a store that went back to the grant (a lossy
    // restart) shows a grant of a term the node already held. A fresh lessee
    // after the region comes back must know it tried that term: the node
    // shares one map of tried terms across its successive lessees.
    clock = new SimulatedClock();
    clock.set(1000);
    const regional = new FaultyStore(new MemoryLeaseStore("eu"));
    const raw = [1, 2, 3].map((i) => new MemoryLeaseStore(`quorum-${i}`));
    const quorum = raw.map((s) => new FaultyStore(s));
    const grants: StoreEntry[] = [];
    const ac = new AbortController();
    void (async () => {
      for await (const e of raw[0]!.watch(scopeKey("eu"), { signal: ac.signal })) if (scopeViewOf(e).state === "granted") grants.push(e);
    })().catch(() => undefined);
    const held: number[] = [];
    const events: NodeRoleEvent[] = [];
    node = startNode({
      cluster: "t",
      region: "eu",
      id: "eu-1",
      regionalStore: regional,
      quorumStores: quorum,
      regionalTiming: { leaseMs: 2000 },
      globalTiming: { leaseMs: 2000 },
      simulation: { now: () => clock.now(), clock, random: prng(5), wallNow: () => clock.now() },
      scopes: {
        timing: { leaseMs: 2000 },
        failbackAfterMs: 4000,
        regions: [{ name: "eu", failover: [], leaseMs: 2000 }],
        regionStore: async () => regional,
      },
    });
    node.on((e) => {
      events.push(e);
      if (e.type === "scope-held") held.push(e.token);
    });
    await until(() => node!.scope("eu").held, 20_000, "scope eu held");
    expect(held).toEqual([1]);
    expect(grants.map((g) => {
      const v = scopeViewOf(g);
      return v.state === "granted" ? v.token : null;
    })).toEqual([1]);

    // The node is cut off from everything: its region lapses, and its
    // releases cannot be written (the records stay held by it).
    regional.setDown(true);
    for (const q of quorum) q.setDown(true);
    await until(() => !node!.regional().held && !node!.scope("eu").held, 10_000, "region and scope lost");
    // Two stores come back from a lossy restart showing the grant of term 1 again.
    for (const s of raw.slice(0, 2)) s.forge(scopeKey("eu"), "put", grants[0]!.value);
    regional.setDown(false);
    for (const q of quorum) q.setDown(false);
    await until(() => node!.regional().held, 20_000, "region regained");
    // Long enough for a lessee to confirm what it reads, and for the authority to grant anew.
    await until(() => node!.scope("eu").held, 20_000, "scope eu held again");
    await until(() => false, 3_000, "settle").catch(() => undefined);
    ac.abort();
    expect(held.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < held.length; i++) expect(held[i], `tokens held: ${held.join(", ")}`).toBeGreaterThan(held[i - 1]!);
  });

  it("gives each quorum participant store objects of its own (docs/quorum.md, Q3)", async () => {
    clock = new SimulatedClock();
    clock.set(1000);
    const raw = [1, 2, 3].map((i) => new MemoryLeaseStore(`quorum-${i}`));
    const handedOut: FaultyStore[][] = [];
    const regional = new MemoryLeaseStore("eu");
    node = startNode({
      cluster: "t",
      region: "eu",
      id: "eu-1",
      regionalStore: regional,
      quorumStores: () => {
        const set = raw.map((s) => new FaultyStore(s));
        handedOut.push(set);
        return set;
      },
      regionalTiming: { leaseMs: 2000 },
      globalTiming: { leaseMs: 2000 },
      simulation: { now: () => clock.now(), clock, random: prng(5), wallNow: () => clock.now() },
      scopes: { timing: { leaseMs: 2000 }, failbackAfterMs: 4000, regions: [{ name: "eu", failover: [], leaseMs: 2000 }], regionStore: async () => regional },
    });
    await until(() => node!.global().held && node!.scope("eu").held, 20_000, "global leader holding its scope");
    // The global candidacy, the lessee and the authority: three sets, each used.
    expect(handedOut).toHaveLength(3);
    for (const set of handedOut) expect(set.reduce((n, s) => n + Object.values(s.calls).reduce((a, b) => a + b, 0), 0)).toBeGreaterThan(0);
    expect(new Set(handedOut.flat()).size).toBe(9);
  });

  it("full mode: the regional lease is a quorum lease over the region's servers' stores; one server's loss ends no role", async () => {
    clock = new SimulatedClock();
    clock.set(1000);
    const servers = [1, 2, 3].map((n) => new MemoryLeaseStore(`region-eu-${n}`));
    const handedOut: FaultyStore[][] = [];
    const quorum = [1, 2, 3].map((i) => new MemoryLeaseStore(`quorum-${i}`));
    const events: NodeRoleEvent[] = [];
    node = startNode({
      cluster: "t",
      region: "eu",
      id: "eu-1",
      regionalStore: () => {
        const set = servers.map((s) => new FaultyStore(s));
        handedOut.push(set);
        return set;
      },
      quorumStores: quorum,
      regionalTiming: { leaseMs: 2000 },
      globalTiming: { leaseMs: 3000 },
      simulation: { now: () => clock.now(), clock, random: prng(7), wallNow: () => clock.now() },
      scopes: {
        timing: { leaseMs: 3000 },
        failbackAfterMs: 4000,
        regions: [{ name: "eu", failover: [], leaseMs: 2000 }],
        regionStore: async () => servers,
        storesPerRegion: () => 3,
      },
    });
    node.on((e) => events.push(e));
    await until(() => node!.global().held && node!.scope("eu").held, 20_000, "regional and global leader holding its scope");
    expect(node.elections().regional?.constructor.name).toBe("QuorumElection");
    // The regional election's own store objects, one set.
    expect(handedOut).toHaveLength(1);
    for (const s of servers) expect((await s.get("leader"))?.value).toBeDefined();
    // Each server in turn is down for longer than the regional lease: nothing ends, nothing is re-elected.
    for (const down of handedOut[0]!) {
      down.setDown(true);
      const t0 = clock.now();
      await until(() => clock.now() - t0 > 5_000, 6_000, "a server down for 5 s");
      down.setDown(false);
      await until(() => clock.now() - t0 > 8_000, 9_000, "the server back for 3 s");
      expect(node.regional().held).toBe(true);
    }
    expect(events.filter((e) => e.type === "deposed" || e.type === "scope-ended")).toEqual([]);
    expect(events.filter((e) => e.type === "elected").map((e) => (e as { tier: string }).tier).sort()).toEqual(["global", "region"]);
  });
});
