/**
 * Issue 14: no leadership change from a malformed record beyond what
 * docs/safety.md (R9) states. A holder fed arbitrary store entries through
 * its watch — garbage bytes, near-valid records, copies of its own record,
 * deletes, at revisions older than, equal to or newer than its own —
 * (1) never has its validity extended by them, (2) is never deposed by an
 * entry no newer than its own last write, and (3) is deposed (`superseded`)
 * at once by any newer entry it did not write. Nothing throws, nothing is
 * left unhandled.
 */
import fc from "fast-check";
import { pack } from "msgpackr";
import { SimulatedClock } from "xstate";
import { describe, expect, it } from "vitest";
import { startElection, type ElectionEvent } from "../../src/election/election.js";
import { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import { viewOf } from "../../src/lease/record.js";
import type { CallOptions, LeaseStore, StoreEntry, WatchOptions } from "../../src/lease/store.js";
import { listen } from "../../src/util/listen.js";
import { flush, prng } from "../../src/sim/election-sim.js";
import { encodeRecord } from "../../src/wire/lease-record.js";

const KEY = "test.leader";

/** The memory store, plus entries injected into every open watch (a replay, a stale or forged delivery). */
class InjectingStore implements LeaseStore {
  readonly name = "inject";
  private readonly pushes = new Set<(e: StoreEntry) => void>();
  constructor(readonly inner: MemoryLeaseStore) {}
  inject(e: StoreEntry): void {
    for (const p of this.pushes) p(e);
  }
  get(key: string, opts?: CallOptions) {
    return this.inner.get(key, opts);
  }
  create(key: string, value: Uint8Array, opts?: CallOptions) {
    return this.inner.create(key, value, opts);
  }
  update(key: string, value: Uint8Array, rev: number, opts?: CallOptions) {
    return this.inner.update(key, value, rev, opts);
  }
  delete(key: string, rev: number, opts?: CallOptions) {
    return this.inner.delete(key, rev, opts);
  }
  keys(filter: string, opts?: CallOptions) {
    return this.inner.keys(filter, opts);
  }
  watch(filter: string, opts: WatchOptions): AsyncIterable<StoreEntry> {
    return listen<StoreEntry>(
      (push) => {
        this.pushes.add(push);
        void (async () => {
          for await (const e of this.inner.watch(filter, opts)) push(e);
        })().catch(() => undefined);
        return () => this.pushes.delete(push);
      },
      { signal: opts.signal },
    );
  }
}

const junk = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.anything({ maxDepth: 2 }).map((v) => {
    try {
      return pack(v);
    } catch {
      return new Uint8Array([0xc1]);
    }
  }),
);
/** What to deliver: relative revision (≤ 0: no newer than the holder's), and the bytes' recipe. */
const delivery = fc.record({
  rel: fc.integer({ min: -5, max: 3 }),
  op: fc.constantFrom("put", "delete"),
  recipe: fc.constantFrom("junk", "copy", "released-copy", "other-holder", "huge-token"),
  bytes: junk,
});

describe("a holder fed arbitrary watch entries", () => {
  it("is never extended, is deposed only by newer entries it did not write, at once, and nothing throws", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (r: unknown) => unhandled.push(r);
    process.on("unhandledRejection", onUnhandled);
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(delivery, { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 1e6 }), async (plan, seed) => {
          const clock = new SimulatedClock();
          clock.set(1_000);
          const mem = new MemoryLeaseStore("m");
          const store = new InjectingStore(mem);
          const events: ElectionEvent[] = [];
          const e = startElection({
            store,
            key: KEY,
            id: "a",
            leaseMs: 3000,
            simulation: { now: () => clock.now(), clock, random: prng(seed), wallNow: () => clock.now() },
          });
          e.on((x) => events.push(x));
          for (let i = 0; i < 10 && !e.isLeader(); i++) {
            clock.increment(5);
            await flush();
          }
          expect(e.isLeader()).toBe(true);
          try {
            for (const d of plan) {
              const l = e.leadership();
              if (!l) break;
              const own = (await mem.get(KEY))!;
              const rec = viewOf(own);
              if (rec.state !== "held") throw new Error("not held");
              const value =
                d.recipe === "junk" ? d.bytes
                : d.recipe === "copy" ? own.value
                : d.recipe === "released-copy" ? encodeRecord({ ...rec.record, token: rec.token, released: true, commit: undefined, reveal: "guess" })
                : d.recipe === "other-holder" ? encodeRecord({ ...rec.record, holder: "m", token: 0 })
                : encodeRecord({ ...rec.record, token: 2 ** 50 });
              const deposedBefore = events.filter((x) => x.type === "deposed").length;
              if (d.rel <= 0) {
                // A replayed or stale delivery: no newer than the holder's own last write.
                store.inject({ key: KEY, revision: Math.max(1, own.revision + d.rel), operation: d.op as "put" | "delete", value });
                await flush();
                expect(e.leadership()?.validUntil).toBe(l.validUntil);
                expect(events.filter((x) => x.type === "deposed").length).toBe(deposedBefore);
              } else {
                for (let k = 1; k < d.rel; k++) mem.forge("other.key", "put", new Uint8Array([1]));
                mem.forge(KEY, d.op as "put" | "delete", value);
                await flush();
                expect(e.isLeader()).toBe(false);
                expect(events.filter((x) => x.type === "deposed").at(-1)).toMatchObject({ reason: "superseded", token: l.token });
                expect(events.some((x) => x.type === "renewed" && x.validUntil > l.validUntil)).toBe(false);
                break;
              }
            }
          } finally {
            const stopping = e.stop();
            for (let i = 0; i < 400; i++) {
              clock.increment(25);
              await flush();
            }
            await stopping;
          }
        }),
        { numRuns: 60, seed: 14 },
      );
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    expect(unhandled).toEqual([]);
  }, 60_000);
});
