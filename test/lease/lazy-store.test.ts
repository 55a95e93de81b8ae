import { describe, expect, it } from "vitest";
import { AbortedError, StoreUnavailableError } from "../../src/errors.js";
import { LazyLeaseStore } from "../../src/lease/lazy-store.js";
import { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import type { LeaseStore, StoreEntry } from "../../src/lease/store.js";
import { storeContract } from "./store-contract.js";

storeContract("LazyLeaseStore over MemoryLeaseStore", async () => {
  const inner = new MemoryLeaseStore("contract");
  const store = new LazyLeaseStore("contract", async () => inner);
  return { store, cleanup: async () => undefined, loseBucket: async () => void inner.loseBucket() };
});

const enc = (s: string) => new TextEncoder().encode(s);

/** An opener the test drives by hand: each open waits until the test settles it. */
function manualOpener() {
  const pending: { resolve: (s: LeaseStore) => void; reject: (e: Error) => void }[] = [];
  const open = () => new Promise<LeaseStore>((resolve, reject) => pending.push({ resolve, reject }));
  return { open, pending };
}

describe("LazyLeaseStore", () => {
  it("opens nothing until the first call, then shares one open between concurrent callers", async () => {
    const inner = new MemoryLeaseStore("b");
    await inner.create("k", enc("v"));
    const m = manualOpener();
    const s = new LazyLeaseStore("b", m.open);
    expect(s.isOpen()).toBe(false);
    expect(m.pending).toHaveLength(0);
    const a = s.get("k");
    const b = s.keys(">");
    await Promise.resolve();
    expect(m.pending).toHaveLength(1);
    m.pending[0]!.resolve(inner);
    expect((await a)?.revision).toBe(1);
    expect(await b).toEqual(["k"]);
    expect(s.isOpen()).toBe(true);
    expect(s.opens).toBe(1);
  });

  it("rejects calls with StoreUnavailableError while the bucket cannot be opened, and opens again on a later call", async () => {
    let t = 0;
    let fail = true;
    const inner = new MemoryLeaseStore("b");
    const s = new LazyLeaseStore("b", async () => {
      if (fail) throw new Error("no responders");
      return inner;
    }, { retryAfterMs: 1_000, now: () => t });
    await expect(s.get("k")).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(s.opens).toBe(1);
    // Within the retry pause: fails at once, without another open.
    fail = false;
    t = 500;
    await expect(s.create("k", enc("v"))).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(s.opens).toBe(1);
    t = 1_000;
    expect(await s.create("k", enc("v"))).toBe(1);
    expect(s.opens).toBe(2);
    expect((await s.get("k"))?.revision).toBe(1);
    expect(s.opens).toBe(2);
  });

  it("honours each call's signal while the open hangs, and the open goes on for a later caller", async () => {
    const inner = new MemoryLeaseStore("b");
    const m = manualOpener();
    const s = new LazyLeaseStore("b", m.open);
    const ac = new AbortController();
    const first = s.get("k", { signal: ac.signal });
    await Promise.resolve();
    ac.abort();
    await expect(first).rejects.toBeInstanceOf(AbortedError);
    await expect(s.get("k", { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
    const later = s.get("k");
    m.pending[0]!.resolve(inner);
    expect(await later).toBeNull();
    expect(m.pending).toHaveLength(1);
  });

  it("a watch ends with StoreUnavailableError while the bucket cannot be opened, quietly on its own signal, and follows the bucket once open", async () => {
    let fail = true;
    let t = 0;
    const inner = new MemoryLeaseStore("b");
    const s = new LazyLeaseStore("b", async () => {
      if (fail) throw new Error("stream not found");
      return inner;
    }, { now: () => t });
    const ac = new AbortController();
    const drain = async () => {
      const seen: StoreEntry[] = [];
      for await (const e of s.watch(">", { signal: ac.signal })) {
        seen.push(e);
        if (seen.length === 2) ac.abort();
      }
      return seen;
    };
    await expect(drain()).rejects.toBeInstanceOf(StoreUnavailableError);
    fail = false;
    t = 10_000;
    await inner.create("a", enc("1"));
    const watching = drain();
    await inner.create("b", enc("2"));
    expect((await watching).map((e) => e.key)).toEqual(["a", "b"]);
    // Aborted before the open: ends without an error.
    const s2 = new LazyLeaseStore("c", manualOpener().open);
    const ac2 = new AbortController();
    const it2 = s2.watch(">", { signal: ac2.signal })[Symbol.asyncIterator]();
    const next = it2.next();
    ac2.abort();
    expect((await next).done).toBe(true);
  });
});
