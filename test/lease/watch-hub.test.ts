/**
 * The shared bucket-wide watch: one source for many watchers, the cached
 * current state for late joiners, errors for everyone, and a lingering close.
 * The source here is a plain async queue: the hub is generic over any
 * `AsyncIterable<StoreEntry>` (the NATS store's bucket-wide watch in production,
 * exercised against a real server in nats-store.test.ts).
 */
import { describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/errors.js";
import type { StoreEntry } from "../../src/lease/store.js";
import { WatchHub } from "../../src/lease/watch-hub.js";

const entry = (key: string, revision: number, operation: "put" | "delete" = "put"): StoreEntry => ({
  key,
  revision,
  operation,
  value: new TextEncoder().encode(`${key}@${revision}`),
});

/** A source the test feeds by hand; records every open and its signal. */
class Source {
  opens: AbortSignal[] = [];
  private queue: (StoreEntry | Error)[] = [];
  private wake: (() => void) | null = null;
  readonly open = (signal: AbortSignal): AsyncIterable<StoreEntry> => {
    this.opens.push(signal);
    this.queue = [];
    const self = this;
    return (async function* () {
      for (;;) {
        while (self.queue.length) {
          const x = self.queue.shift()!;
          if (x instanceof Error) throw x;
          yield x;
        }
        if (signal.aborted) return;
        await new Promise<void>((r) => {
          self.wake = r;
          signal.addEventListener("abort", () => r(), { once: true });
        });
      }
    })();
  };
  push(...xs: (StoreEntry | Error)[]): void {
    this.queue.push(...xs);
    this.wake?.();
  }
}

/** Reads `n` entries from an iterator (fails the test instead of hanging). */
async function take(it: AsyncIterator<StoreEntry>, n: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < n) {
    const r = await Promise.race([it.next(), new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`only ${out.length}/${n}`)), 2_000))]);
    if (r.done) throw new Error(`ended after ${out.length}/${n}`);
    out.push(`${r.value.key}@${r.value.revision}`);
  }
  return out;
}

describe("WatchHub", () => {
  it("opens one source for many watchers and routes each entry to the watchers it matches", async () => {
    const src = new Source();
    const hub = new WatchHub(src.open, 10);
    const ac = new AbortController();
    const a = hub.watch("k.a", ac.signal)[Symbol.asyncIterator]();
    const b = hub.watch("k.b", ac.signal)[Symbol.asyncIterator]();
    const all = hub.watch("k.*", ac.signal)[Symbol.asyncIterator]();
    const pa = take(a, 2);
    const pb = take(b, 1);
    const pall = take(all, 3);
    src.push(entry("k.a", 1), entry("k.b", 2), entry("other", 3), entry("k.a", 4, "delete"));
    expect(await pa).toEqual(["k.a@1", "k.a@4"]);
    expect(await pb).toEqual(["k.b@2"]);
    expect(await pall).toEqual(["k.a@1", "k.b@2", "k.a@4"]);
    expect(src.opens).toHaveLength(1);
    expect(hub.watchers).toBe(3);
    ac.abort();
  });

  it("gives a late joiner the latest cached entry of each matching key first, then live ones", async () => {
    const src = new Source();
    const hub = new WatchHub(src.open, 10);
    const ac = new AbortController();
    const first = hub.watch(">", ac.signal)[Symbol.asyncIterator]();
    const seen = take(first, 4);
    src.push(entry("x", 1), entry("y", 2), entry("x", 3), entry("z", 4, "delete"));
    await seen;
    const late = hub.watch("x", ac.signal)[Symbol.asyncIterator]();
    const lateAll = hub.watch(">", ac.signal)[Symbol.asyncIterator]();
    expect(await take(late, 1)).toEqual(["x@3"]);
    expect(await take(lateAll, 3)).toEqual(["x@3", "y@2", "z@4"]);
    src.push(entry("x", 5));
    expect(await take(late, 1)).toEqual(["x@5"]);
    expect(src.opens).toHaveLength(1);
    ac.abort();
  });

  it("ends every watcher of a failed source with its error; the next watcher opens a fresh one with an empty cache", async () => {
    const src = new Source();
    const hub = new WatchHub(src.open, 10);
    const ac = new AbortController();
    const w1 = hub.watch("k", ac.signal)[Symbol.asyncIterator]();
    const w2 = hub.watch(">", ac.signal)[Symbol.asyncIterator]();
    const got = take(w1, 1);
    src.push(entry("k", 1));
    await got;
    await take(w2, 1);
    const boom = new StoreUnavailableError("connection lost");
    const end1 = w1.next().catch((e: unknown) => e);
    const end2 = w2.next().catch((e: unknown) => e);
    src.push(boom);
    expect(await end1).toBe(boom);
    expect(await end2).toBe(boom);
    expect(hub.active).toBe(false);
    const w3 = hub.watch("k", ac.signal)[Symbol.asyncIterator]();
    const fresh = take(w3, 1);
    await Promise.resolve();
    expect(src.opens).toHaveLength(2);
    src.push(entry("k", 7));
    expect(await fresh).toEqual(["k@7"]); // not the stale k@1 from the failed run
    ac.abort();
  });

  it("detaches an aborted watcher and closes the source a linger after the last one leaves", async () => {
    const src = new Source();
    const hub = new WatchHub(src.open, 20);
    const ac1 = new AbortController();
    const ac2 = new AbortController();
    const w1 = hub.watch("a", ac1.signal)[Symbol.asyncIterator]();
    const w2 = hub.watch("b", ac2.signal)[Symbol.asyncIterator]();
    const p1 = w1.next();
    const p2 = w2.next();
    expect(hub.watchers).toBe(2);
    ac1.abort();
    expect((await p1).done).toBe(true);
    expect(hub.watchers).toBe(1);
    expect(src.opens[0]!.aborted).toBe(false);
    ac2.abort();
    expect((await p2).done).toBe(true);
    expect(hub.watchers).toBe(0);
    await new Promise<void>((r) => src.opens[0]!.addEventListener("abort", () => r(), { once: true }));
    expect(hub.active).toBe(false);
  });

  it("a watcher arriving during the linger keeps the source open", async () => {
    const src = new Source();
    const hub = new WatchHub(src.open, 30);
    const ac1 = new AbortController();
    const w1 = hub.watch("a", ac1.signal)[Symbol.asyncIterator]();
    const p1 = w1.next();
    ac1.abort();
    await p1;
    const ac2 = new AbortController();
    const w2 = hub.watch("a", ac2.signal)[Symbol.asyncIterator]();
    const got = take(w2, 1);
    await new Promise((r) => setTimeout(r, 60)); // past the linger: the source must still be open
    src.push(entry("a", 1));
    expect(await got).toEqual(["a@1"]);
    expect(src.opens).toHaveLength(1);
    expect(src.opens[0]!.aborted).toBe(false);
    ac2.abort();
  });
});

describe("WatchHub.subscribe (callback watchers)", () => {
  /** Records what a callback watcher hears, as the iterator tests do. */
  const recorder = () => {
    const got: string[] = [];
    const ends: unknown[] = [];
    return { got, ends, sink: { entry: (e: StoreEntry) => got.push(`${e.key}@${e.revision}`), end: (err: unknown) => ends.push(err) } };
  };
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 2_000 && !cond(); i++) await new Promise((r) => setImmediate(r));
    expect(cond()).toBe(true);
  };

  it("hears the cached entry first (never synchronously), then live ones, like an iterator on the same source", async () => {
    const src = new Source();
    const hub = new WatchHub(src.open, 10);
    const ac = new AbortController();
    const it1 = hub.watch(">", ac.signal)[Symbol.asyncIterator]();
    const seen = take(it1, 2);
    src.push(entry("x", 1), entry("x", 2));
    await seen;
    const r = recorder();
    const cancel = hub.subscribe("x", r.sink);
    expect(r.got).toEqual([]); // not from inside subscribe
    await until(() => r.got.length === 1);
    expect(r.got).toEqual(["x@2"]);
    src.push(entry("y", 3), entry("x", 4));
    await until(() => r.got.length === 2);
    expect(r.got).toEqual(["x@2", "x@4"]);
    expect(hub.watchers).toBe(2);
    cancel();
    cancel(); // idempotent
    expect(hub.watchers).toBe(1);
    src.push(entry("x", 5));
    expect(await take(it1, 3)).toEqual(["y@3", "x@4", "x@5"]);
    expect(r.got).toEqual(["x@2", "x@4"]); // nothing after the unsubscribe
    expect(src.opens).toHaveLength(1);
    ac.abort();
  });

  it("ends with the source's error, once; a watcher subscribing again opens a fresh run", async () => {
    const src = new Source();
    const hub = new WatchHub(src.open, 10);
    const r = recorder();
    hub.subscribe("k", r.sink);
    src.push(entry("k", 1));
    await until(() => r.got.length === 1);
    const boom = new StoreUnavailableError("connection lost");
    src.push(boom);
    await until(() => r.ends.length === 1);
    expect(r.ends).toEqual([boom]);
    expect(hub.active).toBe(false);
    const r2 = recorder();
    const cancel = hub.subscribe("k", r2.sink);
    expect(src.opens).toHaveLength(2);
    src.push(entry("k", 7));
    await until(() => r2.got.length === 1);
    expect(r2.got).toEqual(["k@7"]); // not the stale k@1
    expect(r.ends).toHaveLength(1);
    cancel();
  });

  it("a watcher subscribed from inside a callback for the same key hears that entry once (from its replay)", async () => {
    const src = new Source();
    const hub = new WatchHub(src.open, 10);
    const got: string[] = [];
    const cancels: (() => void)[] = [];
    const sink = (gen: number) => ({
      entry: (e: StoreEntry) => {
        got.push(`${gen}:${e.key}@${e.revision}`);
        // The first watcher's reaction to k@2 starts a second one on the same key (the set being delivered to).
        if (gen === 1 && e.revision === 2) cancels.push(hub.subscribe("k", sink(2)));
      },
      end: () => {},
    });
    cancels.push(hub.subscribe("k", sink(1)));
    src.push(entry("k", 1), entry("k", 2), entry("k", 3));
    await until(() => got.length >= 5);
    await new Promise((r) => setImmediate(r));
    expect(got.filter((g) => g.startsWith("1:"))).toEqual(["1:k@1", "1:k@2", "1:k@3"]);
    expect(got.filter((g) => g.startsWith("2:"))).toEqual(["2:k@2", "2:k@3"]);
    for (const c of cancels) c();
  });
});
