/**
 * Forged records that the outside review found trusted too far (SimulatedClock
 * + memory store; docs/safety.md, R9):
 * - a copy of the holder's own record, which the holder's watch missed, must
 *   not extend its validity when a later renewal CAS conflicts on it: the
 *   copy may be older than the renewal's send, and followers started their
 *   full-lease wait when they saw it;
 * - a follower that lost a takeover race, or a candidate that has observed
 *   nothing yet, must not take a forged delete at once.
 * Each test fails without its fix (see the report of the change).
 */
import { afterEach, describe, expect, it } from "vitest";
import { viewOf } from "../../src/lease/record.js";
import { Sim } from "../../src/sim/election-sim.js";
import { commitOf, encodeRecord, LEASE_RECORD_VERSION } from "../../src/wire/lease-record.js";

// Default sim timing: lease 3000, renew 1000, drift 0.01, margin 60 → validFor 2910.
const KEY = "test.leader";
const VALID_FOR = 2_910;
let sim: Sim;
afterEach(async () => {
  await sim?.stopAll();
});

describe("forged records that must not be trusted", () => {
  it("a copy of the holder's own record, missed by its watch, does not extend its validity after a conflicting renewal", async () => {
    sim = new Sim(61);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 100);
    const b = sim.add("b");
    await sim.advance(1_500);
    // Right after one of a's renewals: a forger re-publishes a's record as it is (holder,
    // token, commitment and lease copied); a's watch misses it, b's does not.
    const renewals = a.events.filter((e) => e.type === "renewed").length;
    await sim.until(() => a.events.filter((e) => e.type === "renewed").length > renewals, 2_000, 1);
    const current = sim.store.peek(KEY)!;
    a.link.dropWatchNext((e) => e.revision > current.revision);
    const forgedAt = sim.now();
    sim.store.forge(KEY, "put", current.value);
    // a's next renewal conflicts on the copy. At the first "renewed" after that, a is cut
    // off: whatever validity it holds then, it keeps until its deadline.
    let cutAt = -1;
    a.election.on((e) => {
      if (e.type === "renewed" && cutAt < 0) {
        cutAt = sim.now();
        a.link.setDown(true);
      }
    });
    await sim.until(() => b.election.isLeader(), 10_000, 1);
    expect(cutAt).toBeGreaterThan(forgedAt);
    // b waited a full lease from a change it saw; a must not still be valid.
    expect(a.election.isLeader()).toBe(false);
    expect(b.election.leadership()!.token).toBeGreaterThan(viewOf(current).revision);
  });

  it("a follower that lost a takeover race does not take a forged delete at once", async () => {
    sim = new Sim(62);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 100);
    const b = sim.add("b");
    await sim.advance(1_500);
    // a is cut off: b watches its last revision unchanged for a full lease.
    a.link.setDown(true);
    const waited = sim.store.peek(KEY)!;
    let c2At = -1;
    // Just before b's takeover CAS: another candidate that waited out the same revision
    // wins the race (a legitimate CAS, valid for VALID_FOR from now), and a forger deletes
    // the key before b reads it.
    b.link.beforeNext(
      (op) => op === "update",
      async () => {
        const rec = { v: LEASE_RECORD_VERSION, holder: "c2", token: 0, leaseMs: 3_000, renewMs: 1_000, acquiredAt: 0, renewedAt: 0, released: false, commit: commitOf("c2") } as const;
        c2At = sim.now();
        await sim.store.update(KEY, encodeRecord(rec), waited.revision);
        sim.store.forge(KEY, "delete");
      },
    );
    await sim.until(() => b.election.isLeader(), 10_000, 1);
    expect(c2At).toBeGreaterThan(0);
    expect(sim.now()).toBeGreaterThanOrEqual(c2At + VALID_FOR);
  });

  it("a candidate that has observed nothing yet does not take a forged delete at once", async () => {
    sim = new Sim(63);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 100);
    await sim.advance(500);
    // a is cut off and valid until its deadline; a forger deletes its record.
    a.link.setDown(true);
    const validUntil = a.election.leadership()!.validUntil;
    sim.store.forge(KEY, "delete");
    const c = sim.add("c");
    await sim.until(() => c.election.isLeader(), 10_000, 1);
    expect(sim.now()).toBeGreaterThanOrEqual(validUntil);
  });

  it("a candidate whose first observation is a forged term does not take that term's forged release at once", async () => {
    sim = new Sim(65);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 100);
    await sim.advance(500);
    // a is cut off and valid until its deadline; a forger starts a term of its own with a
    // secret it knows, lets a new candidate see it, then releases it revealing that secret.
    a.link.setDown(true);
    const validUntil = a.election.leadership()!.validUntil;
    const base = { v: LEASE_RECORD_VERSION, holder: "mallory", token: 2 ** 40, leaseMs: 3_000, renewMs: 1_000, acquiredAt: 0, renewedAt: 0 } as const;
    sim.store.forge(KEY, "put", encodeRecord({ ...base, released: false, commit: commitOf("known") }));
    const c = sim.add("c");
    await sim.advance(100, 1);
    sim.store.forge(KEY, "put", encodeRecord({ ...base, released: true, reveal: "known" }));
    await sim.until(() => c.election.isLeader(), 10_000, 1);
    expect(sim.now()).toBeGreaterThanOrEqual(validUntil);
  });

  it("a candidate on a key never written still acquires at once", async () => {
    sim = new Sim(64);
    const a = sim.add("a");
    expect(await sim.until(() => a.election.isLeader(), 100, 1)).toBeLessThan(20);
  });
});
