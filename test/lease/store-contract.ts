/**
 * The one behavioural contract every {@link LeaseStore} must pass. The memory
 * store (deterministic tests) and the NATS store (production) both run it, so
 * an algorithm proven on one behaves the same on the other.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AbortedError, ConfigError, ConflictError } from "../../src/errors.js";
import { viewOf } from "../../src/lease/record.js";
import type { LeaseStore, StoreEntry } from "../../src/lease/store.js";

/** What a contract run needs: a fresh, empty store and a way to dispose of it. */
export interface StoreFixture {
  store: LeaseStore;
  cleanup(): Promise<void>;
  /** Deletes the bucket under the store and lets the store notice (docs/safety.md, "A lost bucket"). */
  loseBucket?(): Promise<void>;
}

const te = new TextEncoder();
const td = new TextDecoder();
const enc = (s: string): Uint8Array => te.encode(s);
const dec = (u: Uint8Array): string => td.decode(u);

/** Rejects if `p` does not settle in `ms`: a guard so a broken watch fails the test instead of hanging it. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A watch plus the controller that ends it. */
class Watch {
  readonly ac = new AbortController();
  readonly it: AsyncIterator<StoreEntry>;
  constructor(store: LeaseStore, filter: string) {
    this.it = store.watch(filter, { signal: this.ac.signal })[Symbol.asyncIterator]();
  }
  /** The next `n` entries, in delivery order. */
  async take(n: number, ms = 5_000): Promise<StoreEntry[]> {
    const out: StoreEntry[] = [];
    while (out.length < n) {
      const r = await within(this.it.next(), ms, `watch entry ${out.length + 1}/${n}`);
      if (r.done) throw new Error(`watch ended after ${out.length}/${n} entries`);
      out.push(r.value);
    }
    return out;
  }
  close(): void {
    this.ac.abort();
  }
}

const brief = (e: StoreEntry) => ({ key: e.key, op: e.operation, value: dec(e.value), revision: e.revision });

/**
 * Registers the contract tests for one store implementation. `makeStore` must
 * return an empty store; it is called once per test.
 */
export function storeContract(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`LeaseStore contract: ${name}`, () => {
    let fx: StoreFixture;
    let store: LeaseStore;
    const watches: Watch[] = [];
    const watch = (filter: string) => {
      const w = new Watch(store, filter);
      watches.push(w);
      return w;
    };

    beforeEach(async () => {
      fx = await makeStore();
      store = fx.store;
    });
    afterEach(async () => {
      for (const w of watches.splice(0)) w.close();
      await fx?.cleanup();
    });

    it("get of an absent key is null", async () => {
      expect(await store.get("lease.none")).toBeNull();
    });

    it("create then get returns the value and revision", async () => {
      const rev = await store.create("lease.a", enc("v1"));
      expect(rev).toBeGreaterThan(0);
      const e = await store.get("lease.a");
      expect(e && brief(e)).toEqual({ key: "lease.a", op: "put", value: "v1", revision: rev });
    });

    it("stores an empty value as a put", async () => {
      const rev = await store.create("lease.empty", new Uint8Array());
      const e = await store.get("lease.empty");
      expect(e && brief(e)).toEqual({ key: "lease.empty", op: "put", value: "", revision: rev });
    });

    it("create on an existing key is a ConflictError", async () => {
      await store.create("lease.a", enc("v1"));
      await expect(store.create("lease.a", enc("v2"))).rejects.toBeInstanceOf(ConflictError);
      expect(dec((await store.get("lease.a"))!.value)).toBe("v1");
    });

    it("update with the current revision succeeds and returns a higher revision", async () => {
      const r1 = await store.create("lease.a", enc("v1"));
      const r2 = await store.update("lease.a", enc("v2"), r1);
      expect(r2).toBeGreaterThan(r1);
      expect(brief((await store.get("lease.a"))!)).toEqual({ key: "lease.a", op: "put", value: "v2", revision: r2 });
    });

    it("update with a stale revision is a ConflictError", async () => {
      const r1 = await store.create("lease.a", enc("v1"));
      await store.update("lease.a", enc("v2"), r1);
      const err = await store.update("lease.a", enc("v3"), r1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as ConflictError).key).toBe("lease.a");
      expect((err as ConflictError).expected).toBe(r1);
      expect(dec((await store.get("lease.a"))!.value)).toBe("v2");
    });

    it("update on a missing key is a ConflictError", async () => {
      const other = await store.create("lease.other", enc("x"));
      await expect(store.update("lease.missing", enc("v"), other)).rejects.toBeInstanceOf(ConflictError);
      expect(await store.get("lease.missing")).toBeNull();
    });

    it("rejects a non-positive expected revision as a ConfigError (0 never names a write)", async () => {
      await store.create("lease.a", enc("v1"));
      await expect(store.update("lease.a", enc("v2"), 0)).rejects.toBeInstanceOf(ConfigError);
      await expect(store.delete("lease.a", 0)).rejects.toBeInstanceOf(ConfigError);
      expect(dec((await store.get("lease.a"))!.value)).toBe("v1");
    });

    it("rejects an invalid key as a ConfigError", async () => {
      await expect(store.get("bad key")).rejects.toBeInstanceOf(ConfigError);
      await expect(store.create("lease.*", enc("x"))).rejects.toBeInstanceOf(ConfigError);
    });

    it("delete with a stale revision is a ConflictError and keeps the key", async () => {
      const r1 = await store.create("lease.a", enc("v1"));
      await store.update("lease.a", enc("v2"), r1);
      await expect(store.delete("lease.a", r1)).rejects.toBeInstanceOf(ConflictError);
      expect(dec((await store.get("lease.a"))!.value)).toBe("v2");
    });

    it("delete of a never-written key is a ConflictError", async () => {
      const other = await store.create("lease.other", enc("x"));
      await expect(store.delete("lease.missing", other)).rejects.toBeInstanceOf(ConflictError);
    });

    it("delete then get is the delete marker (not null: never written); create works again after a delete", async () => {
      const r1 = await store.create("lease.a", enc("v1"));
      await store.delete("lease.a", r1);
      expect(brief((await store.get("lease.a"))!)).toEqual({ key: "lease.a", op: "delete", value: "", revision: r1 + 1 });
      const r3 = await store.create("lease.a", enc("v2"));
      expect(r3).toBeGreaterThan(r1 + 1); // the delete marker took a revision too
      expect(dec((await store.get("lease.a"))!.value)).toBe("v2");
    });

    it("update at a delete marker's revision succeeds (the marker is the latest revision, as in JetStream)", async () => {
      const r1 = await store.create("lease.a", enc("v1"));
      await store.delete("lease.a", r1);
      const w = watch("lease.a");
      const [marker] = await w.take(1);
      expect(marker?.operation).toBe("delete");
      const r3 = await store.update("lease.a", enc("v2"), marker!.revision);
      expect(brief((await store.get("lease.a"))!)).toEqual({ key: "lease.a", op: "put", value: "v2", revision: r3 });
    });

    it("concurrent creates of a fresh key: exactly one wins", async () => {
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.create("lease.race", enc(`c${i}`))));
      expectOneWinner(results);
    });

    it("concurrent creates after a delete: exactly one wins (create stays compare-and-set over a marker)", async () => {
      const r1 = await store.create("lease.race", enc("first"));
      await store.delete("lease.race", r1);
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.create("lease.race", enc(`c${i}`))));
      const winner = expectOneWinner(results);
      expect(dec((await store.get("lease.race"))!.value)).toBe(`c${winner}`);
    });

    it("concurrent updates on the same revision: exactly one of 20 wins", async () => {
      const r1 = await store.create("lease.race", enc("v0"));
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.update("lease.race", enc(`u${i}`), r1)));
      const winner = expectOneWinner(results);
      const e = (await store.get("lease.race"))!;
      expect(dec(e.value)).toBe(`u${winner}`);
      expect(e.revision).toBe((results[winner] as PromiseFulfilledResult<number>).value);
    });

    it("revision is strictly increasing across keys and operations", async () => {
      const revs: number[] = [];
      revs.push(await store.create("lease.a", enc("1")));
      revs.push(await store.create("lease.b", enc("1")));
      revs.push(await store.update("lease.a", enc("2"), revs[0]!));
      await store.delete("lease.b", revs[1]!);
      revs.push(await store.create("lease.b", enc("2")));
      revs.push(await store.update("lease.b", enc("3"), revs[3]!));
      for (let i = 1; i < revs.length; i++) expect(revs[i]!).toBeGreaterThan(revs[i - 1]!);
    });

    it("keys lists present keys matching the filter, not deleted ones", async () => {
      await store.create("region.eu.lease", enc("x"));
      const r = await store.create("region.us.lease", enc("x"));
      await store.create("region.eu.extra.deep", enc("x"));
      await store.create("global.lease", enc("x"));
      await store.delete("region.us.lease", r);
      expect((await store.keys("region.*.lease")).sort()).toEqual(["region.eu.lease"]);
      expect((await store.keys("region.>")).sort()).toEqual(["region.eu.extra.deep", "region.eu.lease"]);
      expect((await store.keys(">")).sort()).toEqual(["global.lease", "region.eu.extra.deep", "region.eu.lease"]);
      expect(await store.keys("nothing.>")).toEqual([]);
    });

    it("watch yields the current entries (delete markers included), then every change in order", async () => {
      const ra = await store.create("w.a", enc("a1"));
      const rb = await store.create("w.b", enc("b1"));
      await store.delete("w.b", rb);
      const w = watch("w.>");
      // Initial batch: the latest entry per key, in revision order; a deleted key shows as its marker.
      const initial = (await w.take(2)).map(brief);
      expect(initial).toEqual([
        { key: "w.a", op: "put", value: "a1", revision: ra },
        { key: "w.b", op: "delete", value: "", revision: rb + 1 },
      ]);
      const r2 = await store.update("w.a", enc("a2"), ra);
      await store.delete("w.a", r2);
      const r4 = await store.create("w.b", enc("b2"));
      const changes = (await w.take(3)).map(brief);
      expect(changes).toEqual([
        { key: "w.a", op: "put", value: "a2", revision: r2 },
        { key: "w.a", op: "delete", value: "", revision: r2 + 1 },
        { key: "w.b", op: "put", value: "b2", revision: r4 },
      ]);
    });

    it("watch with a wildcard filter only sees matching keys", async () => {
      await store.create("region.eu.lease", enc("eu1"));
      await store.create("region.eu.other.deep", enc("no"));
      await store.create("global.lease", enc("no"));
      const w = watch("region.*.lease");
      expect((await w.take(1)).map((e) => e.key)).toEqual(["region.eu.lease"]);
      await store.create("region.us.other.deep", enc("no"));
      await store.create("global.x", enc("no"));
      await store.create("region.us.lease", enc("us1"));
      expect((await w.take(1)).map(brief)).toEqual([expect.objectContaining({ key: "region.us.lease", value: "us1" })]);
    });

    it("watch of a single key", async () => {
      const r1 = await store.create("solo", enc("1"));
      await store.create("solo2", enc("x"));
      const w = watch("solo");
      expect((await w.take(1)).map((e) => e.revision)).toEqual([r1]);
      await store.create("solo3", enc("x"));
      const r2 = await store.update("solo", enc("2"), r1);
      expect((await w.take(1)).map((e) => e.revision)).toEqual([r2]);
    });

    it("watch ends (returns, no error) when its signal aborts", async () => {
      await store.create("w.a", enc("1"));
      const w = watch("w.>");
      await w.take(1);
      const pending = w.it.next();
      w.close();
      await expect(within(pending, 5_000, "watch end")).resolves.toEqual(expect.objectContaining({ done: true }));
    });

    it("watch with an already-aborted signal yields nothing", async () => {
      await store.create("w.a", enc("1"));
      const ac = new AbortController();
      ac.abort();
      const seen: StoreEntry[] = [];
      for await (const e of store.watch("w.>", { signal: ac.signal })) seen.push(e);
      expect(seen).toEqual([]);
    });

    it("after the bucket is lost: revisions rise past the old ones, never-written keys read as held at the genesis revision and are taken by CAS on it", async () => {
      if (!fx.loseBucket) throw new Error("fixture has no loseBucket");
      const r1 = await store.create("lease.a", enc("1"));
      const r2 = await store.update("lease.a", enc("2"), r1);
      const marker = await store.create("lease.gone", enc("x"));
      await store.delete("lease.gone", marker);
      await fx.loseBucket();
      const held = (await store.get("lease.a"))!;
      expect(held.revision).toBeGreaterThan(r2 + 1);
      expect(viewOf(held).state).toBe("unknown");
      expect((await store.get("lease.gone"))?.revision).toBe(held.revision); // its delete marker is gone too
      await expect(store.update("lease.a", enc("old"), r2)).rejects.toBeInstanceOf(ConflictError);
      await expect(store.delete("lease.a", held.revision)).rejects.toBeInstanceOf(ConflictError);
      const w = watch("lease.>");
      const taken = await store.update("lease.a", enc("new"), held.revision);
      expect(taken).toBeGreaterThan(held.revision);
      expect((await w.take(1)).map(brief)).toEqual([{ key: "lease.a", op: "put", value: "new", revision: taken }]);
      await expect(store.update("lease.a", enc("twice"), held.revision)).rejects.toBeInstanceOf(ConflictError);
      expect(await store.keys(">")).toEqual(["lease.a"]);
      await expect(store.get("_regent.genesis")).rejects.toBeInstanceOf(ConfigError);
    });

    it("every call rejects with AbortedError on an aborted signal, and writes nothing", async () => {
      const r1 = await store.create("lease.a", enc("v1"));
      const ac = new AbortController();
      ac.abort(new Error("caller gave up"));
      const signal = ac.signal;
      await expect(store.get("lease.a", { signal })).rejects.toBeInstanceOf(AbortedError);
      await expect(store.create("lease.b", enc("x"), { signal })).rejects.toBeInstanceOf(AbortedError);
      await expect(store.update("lease.a", enc("v2"), r1, { signal })).rejects.toBeInstanceOf(AbortedError);
      await expect(store.delete("lease.a", r1, { signal })).rejects.toBeInstanceOf(AbortedError);
      await expect(store.keys(">", { signal })).rejects.toBeInstanceOf(AbortedError);
      expect(await store.get("lease.b")).toBeNull();
      expect(brief((await store.get("lease.a"))!)).toEqual({ key: "lease.a", op: "put", value: "v1", revision: r1 });
    });
  });
}

/** Asserts exactly one fulfilled result and only ConflictErrors otherwise; returns the winner's index. */
function expectOneWinner(results: PromiseSettledResult<number>[]): number {
  const winners = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
  expect(winners).toHaveLength(1);
  for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(ConflictError);
  return winners[0]!;
}
