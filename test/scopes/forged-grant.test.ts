/**
 * Issue 14, token poisoning: a forged `granted` record can carry any token.
 * The lessee confirms a grant only when its token is the grant's own revision
 * (the authority writes 0), so a forged 2^50 never reaches a FencingGuard.
 * And a lessee whose record is replaced by anyone else ends its term at once,
 * even with a write of its own in flight.
 */
import { describe, expect, it } from "vitest";
import { SimulatedClock } from "xstate";
import { resolveTiming } from "../../src/election/timing.js";
import { FencingGuard } from "../../src/lease/fencing.js";
import { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import { silentLogger } from "../../src/observability/logger.js";
import { ScopeLessee, type LesseeEvent } from "../../src/scopes/lessee.js";
import { encodeScope, scopeKey, scopeViewOf, type ScopeRecord } from "../../src/scopes/record.js";
import { FaultyStore } from "../harness/faulty-store.js";
import { flush } from "../election/sim.js";

function setUp(onEvent: (e: LesseeEvent) => void = () => {}) {
  const clock = new SimulatedClock();
  clock.set(1_000);
  const store = new MemoryLeaseStore("global");
  const link = new FaultyStore(store);
  const events: LesseeEvent[] = [];
  const warnings: unknown[] = [];
  const log = Object.assign(silentLogger(), { warn: (o: unknown) => warnings.push(o) });
  const lessee = new ScopeLessee({
    store: link,
    scopes: ["eu"],
    region: "eu",
    node: "eu-1",
    cluster: "t",
    timing: resolveTiming({ leaseMs: 3_000 }),
    clock,
    regionalDeadline: () => Number.POSITIVE_INFINITY,
    log: log as never,
    emit: (e) => {
      events.push(e);
      onEvent(e);
    },
  });
  lessee.start();
  const advance = async (ms: number) => {
    for (let t = 0; t < ms; t += 5) {
      clock.increment(5);
      await flush();
    }
  };
  return { clock, store, link, events, warnings, lessee, advance };
}

const grant = (token: number): ScopeRecord => ({
  v: 1,
  scope: "eu",
  home: "eu",
  region: "eu",
  node: "eu-1",
  state: "granted",
  token,
  leaseMs: 3_000,
  renewMs: 1_000,
  reason: "initial",
  grantedBy: { node: "mallory", token: 1 },
  grantedAt: 0,
  renewedAt: 0,
});

describe("scope lessee and forged records", () => {
  it("never confirms a grant carrying a token other than its own revision (2^50)", async () => {
    const guard = new FencingGuard();
    const w = setUp((e) => {
      if (e.type === "scope-held") guard.check(e.token, e.scope);
    });
    w.store.forge(scopeKey("eu"), "put", encodeScope(grant(2 ** 50)));
    await w.advance(2_000);
    expect(w.events).toEqual([]);
    expect(w.lessee.term("eu")).toBeNull();
    expect(scopeViewOf(await w.store.get(scopeKey("eu"))).state).toBe("granted"); // not confirmed
    expect(w.warnings).toContainEqual(expect.objectContaining({ token: 2 ** 50 }));
    // A genuine grant afterwards is confirmed with its own revision as the token.
    const rev = await w.store.update(scopeKey("eu"), encodeScope(grant(0)), (await w.store.get(scopeKey("eu")))!.revision);
    await w.advance(100);
    expect(w.lessee.term("eu")?.token).toBe(rev);
    expect(guard.highestToken("eu")).toBe(rev);
    await w.lessee.stop();
  });

  it("a term ends at once when its record is replaced by someone else, even with a renewal in flight", async () => {
    const w = setUp();
    await w.store.create(scopeKey("eu"), encodeScope(grant(0)));
    await w.advance(100);
    const term = w.lessee.term("eu")!;
    expect(term).not.toBeNull();
    // The next renewal never answers: the lessee is busy when the forgery lands.
    w.link.hangNext((op) => op === "update");
    await w.advance(1_050);
    const rec = scopeViewOf(await w.store.get(scopeKey("eu")));
    if (rec.state !== "held") throw new Error(rec.state);
    w.store.forge(scopeKey("eu"), "put", encodeScope({ ...rec.record, state: "released" }));
    await w.advance(5);
    expect(w.lessee.term("eu")).toBeNull();
    expect(term.signal.aborted).toBe(true);
    expect(w.events.find((e) => e.type === "scope-ended")).toMatchObject({ reason: "superseded", token: term.token });
    await w.lessee.stop();
  });

  it("a copy of the lessee's own record, missed by its watch, does not extend its validity after a conflicting renewal", async () => {
    const w = setUp();
    const key = scopeKey("eu");
    await w.store.create(key, encodeScope(grant(0)));
    await w.advance(100);
    expect(w.lessee.term("eu")).not.toBeNull();
    // A follower (the authority) waits a full lease from the last change it saw before a
    // re-grant: the lessee's validity must never outlast that.
    let changedAt = w.clock.now();
    const ac = new AbortController();
    void (async () => {
      for await (const _ of w.store.watch(key, { signal: ac.signal })) changedAt = w.clock.now();
    })();
    const check = () => {
      const t = w.lessee.term("eu");
      if (t) expect(t.validUntil).toBeLessThanOrEqual(changedAt + 3_000);
    };
    // Right after a renewal, a forger re-publishes the record as it is; the lessee's watch misses it.
    const renewals = w.events.length;
    while (w.events.length === renewals) await w.advance(5);
    const current = (await w.store.get(key))!;
    w.link.dropWatchNext((e) => e.revision > current.revision);
    w.store.forge(key, "put", current.value);
    await flush();
    for (let i = 0; i < 600; i++) {
      await w.advance(5);
      check();
    }
    // It kept its term through the conflict (a renewal over the copy landed).
    expect(w.lessee.term("eu")).not.toBeNull();
    expect(w.link.calls.update).toBeGreaterThanOrEqual(3);
    ac.abort();
    await w.lessee.stop();
  });
});
