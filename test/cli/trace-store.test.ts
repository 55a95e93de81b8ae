/**
 * `regent elect --trace-handover`'s store wrapper: every write, read and
 * watch delivery is stamped in order, the store behaves as before (results
 * and errors pass through), and lines are handed over in a batch later, not
 * on the path.
 */
import { describe, expect, it } from "vitest";
import { HopTrace, type Hop } from "../../src/cli/trace-store.js";
import { ConflictError } from "../../src/errors.js";
import { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import type { LeaseStore, StoreEntry, WatchSubscriber } from "../../src/lease/store.js";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("HopTrace", () => {
  it("stamps writes, reads and watch deliveries in order and passes results and errors through", async () => {
    const batches: Hop[][] = [];
    const trace = new HopTrace((h) => batches.push(h), 60_000);
    const store = trace.wrap(new MemoryLeaseStore());
    const ac = new AbortController();
    const it = store.watch("k", { signal: ac.signal })[Symbol.asyncIterator]();

    const rev = await store.create("k", bytes("a"));
    const first = await it.next();
    expect(first.done).toBe(false);
    expect(first.value!.revision).toBe(rev);
    const rev2 = await store.update("k", bytes("b"), rev);
    await expect(store.update("k", bytes("c"), rev)).rejects.toBeInstanceOf(ConflictError);
    expect((await store.get("k"))!.revision).toBe(rev2);
    const second = await it.next();
    expect(second.value!.revision).toBe(rev2);
    ac.abort();

    // Nothing is handed over on the path: only when drained (or after the delay).
    expect(batches).toHaveLength(0);
    trace.drain();
    expect(batches).toHaveLength(1);
    const hops = batches[0]!;
    expect(hops.map((h) => [h.hop, h.op, h.revision])).toEqual([
      ["write-sent", "create", 0],
      ["write-acked", "create", rev],
      ["watch-entry", undefined, rev],
      ["write-sent", "update", rev],
      ["write-acked", "update", rev2],
      ["write-sent", "update", rev],
      ["write-failed", "update", undefined],
      ["get-sent", undefined, undefined],
      ["get-done", undefined, rev2],
      ["watch-entry", undefined, rev2],
    ]);
    for (let i = 1; i < hops.length; i++) expect(hops[i]!.t).toBeGreaterThanOrEqual(hops[i - 1]!.t);
  });

  it("hands a batch over by itself after the delay", async () => {
    const got = new Promise<Hop[]>((resolve) => {
      const trace = new HopTrace(resolve, 1);
      trace.stamp({ hop: "resign-received" });
    });
    expect((await got).map((h) => h.hop)).toEqual(["resign-received"]);
  });

  it("keeps the store's callback watch, stamped, so a traced election runs the same watch path as an untraced one", async () => {
    const batches: Hop[][] = [];
    const trace = new HopTrace((h) => batches.push(h), 60_000);
    const inner = new MemoryLeaseStore();
    // A store with the callback watch, as NatsLeaseStore has (WatchSubscriber).
    const subscriber = Object.assign(Object.create(inner) as MemoryLeaseStore, {
      subscribe(filter: string, sink: { entry(e: StoreEntry): void; end(error: unknown): void }) {
        const ac = new AbortController();
        void (async () => {
          try {
            for await (const e of inner.watch(filter, { signal: ac.signal })) sink.entry(e);
          } catch (err) {
            if (!ac.signal.aborted) sink.end(err);
          }
        })();
        return () => ac.abort();
      },
    });
    expect("subscribe" in trace.wrap(inner)).toBe(false);
    const store = trace.wrap(subscriber) as LeaseStore & WatchSubscriber;
    const seen: number[] = [];
    const got = new Promise<void>((resolve) => {
      const stop = store.subscribe("k", { entry: (e) => (seen.push(e.revision), stop(), resolve()), end: () => {} });
    });
    const rev = await store.create("k", bytes("a"));
    await got;
    expect(seen).toEqual([rev]);
    trace.drain();
    expect(batches.flat().filter((h) => h.hop === "watch-entry").map((h) => h.revision)).toEqual([rev]);
  });
});
