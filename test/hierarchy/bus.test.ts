/**
 * The `state` snapshot degrades per part: a region whose servers are dead
 * (its reads never answer) makes only its own row `unreachable` and lowers
 * the count of answering quorum stores, and the answer still comes within a
 * second with every other row. Quorum rows (global, scopes) show the record
 * of the highest term found, and are `unreachable` only without a majority.
 */
import { describe, expect, it } from "vitest";
import { readState, type StateSource } from "../../src/hierarchy/bus.js";
import { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import type { LeaseStore } from "../../src/lease/store.js";
import { FaultyStore } from "../../src/sim/faulty-store.js";
import { encodeScope, type ScopeRecord, SCOPE_RECORD_VERSION } from "../../src/wire/scope-record.js";
import { scopeKey, GLOBAL_KEY, REGIONAL_KEY } from "../../src/wire/names.js";
import { LEASE_RECORD_VERSION, type LeaseRecord, encodeRecord } from "../../src/wire/lease-record.js";

const leader = (holder: string, region: string, token = 0): LeaseRecord => ({
  v: LEASE_RECORD_VERSION, holder, token, leaseMs: 2000, renewMs: 600, acquiredAt: Date.now(), renewedAt: Date.now(), released: false, meta: { region, node: holder },
});
const scope = (name: string, region: string, node: string, token = 7): ScopeRecord => ({
  v: SCOPE_RECORD_VERSION, scope: name, home: name, region, node, state: "held", token, leaseMs: 3000, renewMs: 1000, reason: "initial",
  grantedBy: { node: "a-1", token: 3 }, grantedAt: Date.now(), renewedAt: Date.now(), stores: 3,
});

/** Regions a, b, c; each has its regional store and its quorum store (links that can hang). */
async function deployment(): Promise<{ source: StateSource; regionB: FaultyStore; quorum: FaultyStore[]; raw: MemoryLeaseStore[] }> {
  const a = new MemoryLeaseStore("region-a");
  const b = new MemoryLeaseStore("region-b");
  const c = new MemoryLeaseStore("region-c");
  await a.create(REGIONAL_KEY, encodeRecord(leader("a-1", "a")));
  await b.create(REGIONAL_KEY, encodeRecord(leader("b-1", "b")));
  await c.create(REGIONAL_KEY, encodeRecord(leader("c-1", "c")));
  const raw = ["a", "b", "c"].map((r) => new MemoryLeaseStore(`quorum-${r}`));
  for (const q of raw) {
    await q.create(GLOBAL_KEY, encodeRecord(leader("a-1", "a", 4)));
    await q.create(scopeKey("a"), encodeScope(scope("a", "a", "a-1")));
    await q.create(scopeKey("b"), encodeScope(scope("b", "b", "b-1")));
  }
  const regionB = new FaultyStore(b);
  const quorum = raw.map((q) => new FaultyStore(q));
  const stores = new Map<string, LeaseStore>([["a", a], ["b", regionB], ["c", c]]);
  return {
    regionB,
    quorum,
    raw,
    source: { cluster: "t", regionNames: ["a", "b", "c"], regionStore: async (n) => stores.get(n)!, quorum },
  };
}

/** readState, or a clear failure when it has not answered within `ms`. */
function answerWithin<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

describe("readState", () => {
  it("answers within a second with only the dead region unreachable; its quorum store only lowers the count", async () => {
    const { source, regionB, quorum } = await deployment();
    regionB.hanging = true;
    quorum[1]!.hanging = true;
    const started = performance.now();
    const s = await answerWithin(readState(source, "me"), 1_500);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(s.regions.a).toMatchObject({ state: "held", node: "a-1" });
    expect(s.regions.b).toMatchObject({ state: "unreachable" });
    expect(s.global).toMatchObject({ state: "held", node: "a-1", token: 4, quorum: { stores: 3, answered: 2, agree: 2 } });
    expect(Object.keys(s.scopes).sort()).toEqual(["a", "b"]);
    expect(s.scopes.b).toMatchObject({ state: "held", region: "b", node: "b-1", home: "b", token: 7, quorum: { stores: 3, answered: 2, agree: 2 } });
  });

  it("without a majority of quorum stores, the global row and every scope are unreachable; the regions are read", async () => {
    const { source, quorum } = await deployment();
    quorum[0]!.hanging = true;
    quorum[2]!.hanging = true;
    const s = await answerWithin(readState(source, "me"), 1_500);
    expect(s.regions.a).toMatchObject({ state: "held" });
    expect(s.regions.b).toMatchObject({ state: "held" });
    expect(s.global).toMatchObject({ state: "unreachable", quorum: { stores: 3, answered: 1 } });
    expect(s.scopes.a).toMatchObject({ state: "unreachable", home: "a" });
    expect(s.scopes.b).toMatchObject({ state: "unreachable", home: "b" });
  });

  it("shows the record of the highest term found, with how many stores agree", async () => {
    const { source, raw } = await deployment();
    // A newer term on one store only (a grant or bid that reached one store so far).
    const g = (await raw[2]!.get(GLOBAL_KEY))!;
    await raw[2]!.update(GLOBAL_KEY, encodeRecord(leader("c-1", "c", 5)), g.revision);
    const sc = (await raw[0]!.get(scopeKey("a")))!;
    await raw[0]!.update(scopeKey("a"), encodeScope(scope("a", "c", "c-1", 8)), sc.revision);
    const s = await answerWithin(readState(source, "me"), 1_500);
    expect(s.global).toMatchObject({ state: "held", node: "c-1", token: 5, quorum: { stores: 3, answered: 3, agree: 1 } });
    expect(s.scopes.a).toMatchObject({ state: "held", region: "c", token: 8, quorum: { stores: 3, answered: 3, agree: 1 } });
    expect(s.scopes.b).toMatchObject({ token: 7, quorum: { stores: 3, answered: 3, agree: 3 } });
  });

  it("reads a region electing on a quorum of per-server stores (full mode) like the global row: every store, the highest term, with how many agree", async () => {
    const { source } = await deployment();
    const servers = [1, 2, 3].map((n) => new FaultyStore(new MemoryLeaseStore(`region-d-${n}`)));
    for (const s of servers) await s.create(REGIONAL_KEY, encodeRecord(leader("d-1", "d", 6)));
    // A newer term on one store, and one server dead: its read never answers.
    const e = (await servers[1]!.get(REGIONAL_KEY))!;
    await servers[1]!.update(REGIONAL_KEY, encodeRecord(leader("d-2", "d", 7)), e.revision);
    servers[2]!.hanging = true;
    const full: StateSource = { ...source, regionNames: [...source.regionNames, "d"], regionStore: async (n) => (n === "d" ? servers : source.regionStore(n)) };
    const started = performance.now();
    const s = await answerWithin(readState(full, "me"), 1_500);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(s.regions.d).toMatchObject({ state: "held", node: "d-2", token: 7, quorum: { stores: 3, answered: 2, agree: 1 } });
    // A single-store region's row carries no quorum.
    expect(s.regions.a).toMatchObject({ state: "held", node: "a-1" });
    expect(s.regions.a!.quorum).toBeUndefined();
    // Without a majority answering, the region row is unreachable.
    servers[0]!.hanging = true;
    const t = await answerWithin(readState(full, "me"), 1_500);
    expect(t.regions.d).toMatchObject({ state: "unreachable", quorum: { stores: 3, answered: 1 } });
  });
});
