import { afterEach, describe, expect, it } from "vitest";
import { SimulatedClock } from "xstate";
import { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import { startNode, type NodeRoleEvent, type RegentNode } from "../../src/hierarchy/node.js";
import type { LeaderEvent } from "../../src/wire/events.js";
import { FaultyStore } from "../../src/sim/faulty-store.js";
import { flush, prng } from "../../src/sim/election-sim.js";

interface SimNode {
  node: RegentNode;
  regionalLink: FaultyStore;
  globalLink: FaultyStore;
  events: (NodeRoleEvent & { t: number })[];
}

class World {
  clock = new SimulatedClock();
  random = prng(42);
  globalStore = new MemoryLeaseStore("global");
  regionStores = new Map<string, MemoryLeaseStore>();
  nodes: SimNode[] = [];
  published: LeaderEvent[] = [];
  constructor() {
    this.clock.set(1000);
  }
  add(region: string, id: string): SimNode {
    if (!this.regionStores.has(region)) this.regionStores.set(region, new MemoryLeaseStore(region));
    const regionalLink = new FaultyStore(this.regionStores.get(region)!);
    const globalLink = new FaultyStore(this.globalStore);
    const node = startNode({
      cluster: "test",
      region,
      id,
      regionalStore: regionalLink,
      quorumStores: [globalLink],
      regionalTiming: { leaseMs: 2000 },
      globalTiming: { leaseMs: 3000 },
      publish: (e) => this.published.push(e),
      simulation: { now: () => this.clock.now(), clock: this.clock, random: this.random, wallNow: () => this.clock.now() },
    });
    const sn: SimNode = { node, regionalLink, globalLink, events: [] };
    node.on((e) => sn.events.push({ ...e, t: this.clock.now() }));
    this.nodes.push(sn);
    return sn;
  }
  async until(pred: () => boolean, maxMs: number, step = 5): Promise<void> {
    const start = this.clock.now();
    await flush();
    while (!pred()) {
      if (this.clock.now() - start > maxMs) throw new Error(`not reached within ${maxMs} ms`);
      this.clock.increment(step);
      await flush();
      this.check();
    }
  }
  /** Invariants checked after every step. */
  check(): void {
    const globals = this.nodes.filter((n) => n.node.global().held);
    expect(globals.length).toBeLessThanOrEqual(1);
    for (const n of globals) {
      expect(n.node.regional().held).toBe(true);
      expect(n.node.global().validUntil).toBeLessThanOrEqual(n.node.regional().validUntil);
    }
    for (const region of this.regionStores.keys()) {
      expect(this.nodes.filter((n) => n.node.region === region && n.node.regional().held).length).toBeLessThanOrEqual(1);
    }
  }
  regionalLeader(region: string) {
    return this.nodes.find((n) => n.node.region === region && n.node.regional().held);
  }
  globalLeader() {
    return this.nodes.find((n) => n.node.global().held);
  }
  async stopAll() {
    for (const n of this.nodes) {
      n.regionalLink.setDown(false);
      n.globalLink.setDown(false);
    }
    let done = false;
    const p = Promise.all(this.nodes.map((n) => n.node.stop())).then(() => (done = true));
    await this.until(() => done, 30_000).catch(() => undefined);
    await p;
  }
}

let world: World;
afterEach(async () => world && (await world.stopAll()));

describe("two-tier hierarchy (SimulatedClock, memory stores)", () => {
  it("elects one leader per region and one global leader among them", async () => {
    world = new World();
    for (const r of ["eu", "us", "ap"]) for (const i of [1, 2]) world.add(r, `${r}-${i}`);
    await world.until(() => ["eu", "us", "ap"].every((r) => world.regionalLeader(r)) && !!world.globalLeader(), 10_000);
    const g = world.globalLeader()!;
    expect(g.node.state()).toContain("globalLeader");
    expect(world.nodes.filter((n) => n.node.state().includes("regionalLeader"))).toHaveLength(3);
    const kinds = world.published.map((e) => `${e.tier}:${e.kind}`);
    expect(kinds.filter((k) => k === "region:elected")).toHaveLength(3);
    expect(kinds.filter((k) => k === "global:elected")).toHaveLength(1);
  });

  it("losing regional leadership ends the global role in the same instant, and another region takes over", async () => {
    world = new World();
    for (const r of ["eu", "us"]) for (const i of [1, 2]) world.add(r, `${r}-${i}`);
    await world.until(() => !!world.regionalLeader("eu") && !!world.regionalLeader("us") && !!world.globalLeader(), 10_000);
    const g = world.globalLeader()!;
    const gRole = g.node.global();
    // The other region's leader lost the race into this global term: it trusts
    // the term's release at once only after watching it for a full global
    // lease (docs/safety.md, R9).
    const termSeen = world.clock.now();
    await world.until(() => world.clock.now() - termSeen > 3_100, 5_000);
    // Partition the global leader from its own region's store only.
    g.regionalLink.setDown(true);
    await world.until(() => !g.node.regional().held, 5_000, 1);
    const regionalEnd = world.clock.now();
    expect(g.node.global().held).toBe(false);
    expect(gRole.signal.aborted).toBe(true);
    const deposedGlobal = g.events.find((e) => e.type === "deposed" && e.tier === "global");
    expect(deposedGlobal).toMatchObject({ reason: "region-lost" });
    expect((deposedGlobal as { t: number }).t).toBe(regionalEnd);
    // The global lease was released on the way out, so the other region's leader takes it at once.
    await world.until(() => !!world.globalLeader(), 3_000, 1);
    expect(world.globalLeader()!.node.region).not.toBe(g.node.region);
    expect(world.clock.now() - regionalEnd).toBeLessThan(100);
  });

  it("a node that cannot reach the global bucket keeps its regional role but never holds the global one", async () => {
    world = new World();
    const a = world.add("eu", "eu-1");
    a.globalLink.setDown(true);
    const b = world.add("us", "us-1");
    await world.until(() => a.node.regional().held && b.node.global().held, 10_000);
    await world.until(() => false, 6_000).catch(() => undefined);
    expect(a.node.regional().held).toBe(true);
    expect(a.node.global().held).toBe(false);
    expect(b.node.global().held).toBe(true);
  });
});
