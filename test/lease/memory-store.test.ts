import { describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/errors.js";
import { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import type { StoreEntry } from "../../src/lease/store.js";
import { storeContract } from "./store-contract.js";

storeContract("MemoryLeaseStore", async () => {
  const store = new MemoryLeaseStore("contract");
  return { store, cleanup: async () => undefined, loseBucket: async () => void store.loseBucket() };
});

const enc = (s: string) => new TextEncoder().encode(s);

describe("MemoryLeaseStore fault injection and determinism", () => {
  it("setAvailable(false) rejects every call with StoreUnavailableError; setAvailable(true) heals with data kept", async () => {
    const s = new MemoryLeaseStore();
    const r1 = await s.create("k", enc("v1"));
    s.setAvailable(false);
    expect(s.available).toBe(false);
    await expect(s.get("k")).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(s.create("k2", enc("x"))).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(s.update("k", enc("v2"), r1)).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(s.delete("k", r1)).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(s.keys(">")).rejects.toBeInstanceOf(StoreUnavailableError);
    const ac = new AbortController();
    await expect(s.watch(">", { signal: ac.signal })[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(StoreUnavailableError);
    s.setAvailable(true);
    expect((await s.get("k"))?.revision).toBe(r1);
    expect(s.lastRevision).toBe(r1); // failed writes consumed no revision
  });

  it("setAvailable(false) ends open watches with StoreUnavailableError after what was already queued", async () => {
    const s = new MemoryLeaseStore();
    await s.create("a", enc("1"));
    const ac = new AbortController();
    const it = s.watch(">", { signal: ac.signal })[Symbol.asyncIterator]();
    expect((await it.next()).value?.key).toBe("a");
    await s.create("b", enc("2")); // queued, not yet consumed
    s.setAvailable(false);
    expect(s.watcherCount).toBe(0);
    expect((await it.next()).value?.key).toBe("b");
    await expect(it.next()).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it("aborting a watch unregisters it", async () => {
    const s = new MemoryLeaseStore();
    await s.create("a", enc("1"));
    const ac = new AbortController();
    const it = s.watch(">", { signal: ac.signal })[Symbol.asyncIterator]();
    await it.next();
    expect(s.watcherCount).toBe(1);
    const pending = it.next();
    ac.abort();
    expect((await pending).done).toBe(true);
    expect(s.watcherCount).toBe(0);
  });

  it("does not deliver watch events re-entrantly inside the write", async () => {
    const s = new MemoryLeaseStore();
    const ac = new AbortController();
    const seen: string[] = [];
    const consumer = (async () => {
      for await (const e of s.watch(">", { signal: ac.signal })) seen.push(e.key);
    })();
    await Promise.resolve();
    void s.create("a", enc("1"));
    expect(seen).toEqual([]); // nothing synchronously
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(["a"]);
    ac.abort();
    await consumer;
  });

  it("copies values in and out", async () => {
    const s = new MemoryLeaseStore();
    const v = enc("abc");
    await s.create("k", v);
    v[0] = 0;
    const e = (await s.get("k"))!;
    e.value[1] = 0;
    expect(new TextDecoder().decode((await s.get("k"))!.value)).toBe("abc");
  });

  it("is deterministic: the same script gives the same trace", async () => {
    const run = async () => {
      const s = new MemoryLeaseStore();
      const ac = new AbortController();
      const events: StoreEntry[] = [];
      const consumer = (async () => {
        for await (const e of s.watch(">", { signal: ac.signal })) events.push(e);
      })();
      const r = await Promise.allSettled([s.create("x", enc("1")), s.create("x", enc("2")), s.create("y", enc("3"))]);
      const rx = (r[0] as PromiseFulfilledResult<number>).value;
      await Promise.allSettled([s.update("x", enc("4"), rx), s.update("x", enc("5"), rx), s.delete("y", 2)]);
      await new Promise((res) => setImmediate(res));
      ac.abort();
      await consumer;
      return { settled: r.map((x) => x.status), events: events.map((e) => [e.key, e.operation, e.revision]) };
    };
    const a = await run();
    expect(await run()).toEqual(a);
    expect(a.events).toEqual([
      ["x", "put", 1],
      ["y", "put", 2],
      ["x", "put", 3],
      ["y", "delete", 4],
    ]);
  });
});
