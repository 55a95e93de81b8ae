/**
 * A stepped multi-region world of `RegentNode`s for the scope unit tests:
 * memory stores per region plus a global store, one scripted
 * {@link FaultyStore} link per (node, store) so a region can be cut off,
 * SimulatedClock time moved by the test, and invariants checked after every
 * step (a violation throws, failing the test).
 */
import { SimulatedClock } from "xstate";
import { CheckFailedError } from "../errors.js";
import { MemoryLeaseStore } from "../lease/memory-store.js";
import { viewOf } from "../lease/record.js";
import type { LeaseStore } from "../lease/store.js";
import { startNode, type NodeRoleEvent, type RegentNode } from "../hierarchy/node.js";
import type { ScopeEvent } from "../wire/events.js";
import { FaultyStore } from "./faulty-store.js";
import { flush, prng } from "./election-sim.js";

/** Fails the step: an invariant of the world does not hold. */
function invariant(ok: boolean, what: string): void {
  if (!ok) throw new CheckFailedError(`invariant violated: ${what}`);
}

export interface WorldNode {
  node: RegentNode;
  links: FaultyStore[];
  regionalLink: FaultyStore;
  globalLink: FaultyStore;
  events: (NodeRoleEvent & { t: number })[];
}

export const REGIONS = [
  { name: "eu", failover: ["us", "ap"], leaseMs: 2000 },
  { name: "us", failover: ["eu", "ap"], leaseMs: 2000 },
  { name: "ap", failover: ["eu", "us"], leaseMs: 2000 },
];

export class ScopesWorld {
  clock = new SimulatedClock();
  random: () => number;
  globalStore = new MemoryLeaseStore("global");
  regionStores = new Map(REGIONS.map((r) => [r.name, new MemoryLeaseStore(r.name)]));
  nodes: WorldNode[] = [];
  scopeEvents: ScopeEvent[] = [];
  /** Per scope: every (node, token) that held it, in order. */
  holders = new Map<string, { node: string; token: number; t: number }[]>();

  constructor(
    seed = 7,
    readonly failbackAfterMs = 4000,
  ) {
    this.random = prng(seed);
    this.clock.set(1000);
  }

  /** `timing` overrides this node's lease lengths (mixed configs, as during a rolling change). */
  add(region: string, id: string, timing: { regionalLeaseMs?: number; globalLeaseMs?: number; scopeLeaseMs?: number } = {}): WorldNode {
    const links: FaultyStore[] = [];
    const link = (s: LeaseStore) => {
      const f = new FaultyStore(s);
      links.push(f);
      return f;
    };
    const regionalLink = link(this.regionStores.get(region)!);
    const globalLink = link(this.globalStore);
    const others = new Map(REGIONS.map((r) => [r.name, r.name === region ? regionalLink : link(this.regionStores.get(r.name)!)]));
    const node = startNode({
      cluster: "sim",
      region,
      id,
      regionalStore: regionalLink,
      quorumStores: [globalLink],
      regionalTiming: { leaseMs: timing.regionalLeaseMs ?? 2000 },
      globalTiming: { leaseMs: timing.globalLeaseMs ?? 3000 },
      simulation: { now: () => this.clock.now(), clock: this.clock, random: this.random, wallNow: () => this.clock.now() },
      scopes: {
        timing: { leaseMs: timing.scopeLeaseMs ?? 3000 },
        failbackAfterMs: this.failbackAfterMs,
        regions: REGIONS,
        regionStore: async (r) => others.get(r)!,
        publish: (e) => this.scopeEvents.push(e),
      },
    });
    const wn: WorldNode = { node, links, regionalLink, globalLink, events: [] };
    node.on((e) => wn.events.push({ ...e, t: this.clock.now() }));
    this.nodes.push(wn);
    return wn;
  }

  /** Cuts (or heals) every link of every node of `region`: the region is gone from everyone's view. */
  partition(region: string, down: boolean): void {
    for (const n of this.nodes.filter((x) => x.node.region === region)) for (const l of n.links) l.setDown(down);
  }

  async until(pred: () => boolean, maxMs: number, what = "condition", step = 10): Promise<number> {
    const start = this.clock.now();
    await flush();
    this.check();
    while (!pred()) {
      if (this.clock.now() - start > maxMs) throw new CheckFailedError(`${what}: not reached within ${maxMs} simulated ms`);
      this.clock.increment(step);
      await flush();
      this.check();
    }
    return this.clock.now() - start;
  }

  /** Lets `ms` pass in the same steps as {@link until}; a broken invariant rejects (it is not a "not reached"). */
  async advance(ms: number, step = 10): Promise<void> {
    const start = this.clock.now();
    await flush();
    this.check();
    while (this.clock.now() - start <= ms) {
      this.clock.increment(step);
      await flush();
      this.check();
    }
  }

  holderOf(scope: string): WorldNode | undefined {
    return this.nodes.find((n) => n.node.scope(scope).held);
  }
  regionalLeader(region: string): WorldNode | undefined {
    return this.nodes.find((n) => n.node.region === region && n.node.regional().held);
  }
  globalLeader(): WorldNode | undefined {
    return this.nodes.find((n) => n.node.global().held);
  }

  /**
   * Resigns the global role until a node of `region` holds it. Candidates
   * that do not trust the resigned term wait a lease from when they saw the
   * release and the first to see it wins; the other regions' watches miss
   * the release, so `region` sees it first (otherwise the race goes by node
   * order, the same every round, and a region added last may never win).
   */
  async moveGlobalTo(region: string): Promise<void> {
    while (this.globalLeader()?.node.region !== region) {
      const g = this.globalLeader();
      if (g) {
        for (const n of this.nodes) {
          if (n.node.region !== region && n !== g) n.globalLink.dropWatchNext((e) => e.key === "global.leader" && viewOf(e).state === "released");
        }
        await g.node.resign("global");
      }
      await this.until(() => !!this.globalLeader() && this.globalLeader() !== g, 20_000, "new global leader");
    }
  }

  /** Invariants after every step. */
  check(): void {
    for (const r of REGIONS) {
      const hs = this.nodes.filter((n) => n.node.scope(r.name).held);
      invariant(hs.length <= 1, `scope ${r.name} held by ${hs.map((h) => h.node.id)}`);
      for (const h of hs) {
        invariant(h.node.regional().held === true, `${h.node.id} holds ${r.name} without regional leadership`);
        const scopeUntil = h.node.scope(r.name).validUntil;
        const regionalUntil = h.node.regional().validUntil;
        invariant(scopeUntil <= regionalUntil, `${h.node.id}: scope ${r.name} valid until ${scopeUntil}, past its regional validity ${regionalUntil}`);
        const token = h.node.scope(r.name).token!;
        const list = this.holders.get(r.name) ?? [];
        const last = list.at(-1);
        if (!last || last.node !== h.node.id || last.token !== token) {
          if (last) invariant(token > last.token, `scope ${r.name} token must increase (${last.token} → ${token})`);
          list.push({ node: h.node.id, token, t: this.clock.now() });
          this.holders.set(r.name, list);
        }
      }
    }
    const globals = this.nodes.filter((n) => n.node.global().held);
    invariant(globals.length <= 1, `global held by ${globals.map((g) => g.node.id)}`);
    // The rule itself, not only its min(): outside `regionalLeader` the global election leads nothing.
    for (const n of this.nodes) {
      if (!n.node.state().split(".").includes("regionalLeader")) invariant(n.node.elections().global?.isLeader() !== true, `${n.node.id} global outside regionalLeader`);
    }
  }

  async stopAll(): Promise<void> {
    for (const n of this.nodes) for (const l of n.links) l.setDown(false);
    let done = false;
    const p = Promise.all(this.nodes.map((n) => n.node.stop())).then(() => (done = true));
    await this.until(() => done, 30_000).catch(() => undefined);
    await p;
  }
}
