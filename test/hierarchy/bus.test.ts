/**
 * The `state` snapshot degrades per part: a region whose servers are dead
 * (its reads never answer) makes only its own row `unreachable`, and the
 * answer still comes within a second with every other row.
 */
import { describe, expect, it } from "vitest";
import { readState, type StateSource } from "../../src/hierarchy/bus.js";
import { GLOBAL_KEY, REGIONAL_KEY } from "../../src/hierarchy/node.js";
import { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import { encodeRecord, type LeaseRecord } from "../../src/lease/record.js";
import type { LeaseStore } from "../../src/lease/store.js";
import { encodeScope, scopeKey, type ScopeRecord } from "../../src/scopes/record.js";
import { FaultyStore } from "../harness/faulty-store.js";

const leader = (holder: string, region: string): LeaseRecord => ({
  v: 1, holder, token: 0, leaseMs: 2000, renewMs: 600, acquiredAt: Date.now(), renewedAt: Date.now(), released: false, meta: { region, node: holder },
});
const scope = (name: string, region: string, node: string): ScopeRecord => ({
  v: 1, scope: name, home: name, region, node, state: "held", token: 7, leaseMs: 3000, renewMs: 1000, reason: "initial",
  grantedBy: { node: "a-1", token: 3 }, grantedAt: Date.now(), renewedAt: Date.now(),
});

async function deployment(): Promise<{ source: StateSource; regionB: FaultyStore; global: FaultyStore }> {
  const a = new MemoryLeaseStore("region-a");
  const b = new MemoryLeaseStore("region-b");
  const g = new MemoryLeaseStore("global");
  await a.create(REGIONAL_KEY, encodeRecord(leader("a-1", "a")));
  await b.create(REGIONAL_KEY, encodeRecord(leader("b-1", "b")));
  await g.create(GLOBAL_KEY, encodeRecord(leader("a-1", "a")));
  await g.create(scopeKey("a"), encodeScope(scope("a", "a", "a-1")));
  await g.create(scopeKey("b"), encodeScope(scope("b", "b", "b-1")));
  const regionB = new FaultyStore(b);
  const global = new FaultyStore(g);
  const stores = new Map<string, LeaseStore>([["a", a], ["b", regionB]]);
  return {
    regionB,
    global,
    source: { cluster: "t", regionNames: ["a", "b"], regionStore: async (n) => stores.get(n)!, global },
  };
}

/** readState, or a clear failure when it has not answered within `ms`. */
function answerWithin<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

describe("readState", () => {
  it("answers within a second with only the dead region unreachable", async () => {
    const { source, regionB } = await deployment();
    regionB.hanging = true;
    const started = performance.now();
    const s = await answerWithin(readState(source, "me"), 1_500);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(s.regions.a).toMatchObject({ state: "held", node: "a-1" });
    expect(s.regions.b).toMatchObject({ state: "unreachable" });
    expect(s.global).toMatchObject({ state: "held", node: "a-1" });
    expect(Object.keys(s.scopes).sort()).toEqual(["a", "b"]);
    expect(s.scopes.b).toMatchObject({ state: "held", region: "b", node: "b-1", home: "b" });
  });

  it("an unreachable global tier leaves the regions and marks the global row and every scope unreachable", async () => {
    const { source, global } = await deployment();
    global.hanging = true;
    const s = await answerWithin(readState(source, "me"), 1_500);
    expect(s.regions.a).toMatchObject({ state: "held" });
    expect(s.regions.b).toMatchObject({ state: "held" });
    expect(s.global).toMatchObject({ state: "unreachable" });
    expect(s.scopes.a).toMatchObject({ state: "unreachable", home: "a" });
    expect(s.scopes.b).toMatchObject({ state: "unreachable", home: "b" });
  });
});
