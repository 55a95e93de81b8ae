/**
 * Issue 13 item 7.1: a stale `get` after a stream-leader change. On an R3
 * bucket a new stream leader that has not applied the latest entries refuses
 * the holder's renewal CAS (its last sequence is behind) and answers the
 * verifying `get` with an *older* revision than the holder's own last one.
 * That read proves nothing: it must neither depose the holder nor extend its
 * validity. Only a newer revision (someone else's, or a release/delete) does
 * supersede.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ConflictError } from "../../src/errors.js";
import type { StoreEntry } from "../../src/lease/store.js";
import { Sim } from "../../src/sim/election-sim.js";
import { LEASE_RECORD_VERSION, type LeaseRecord, encodeRecord } from "../../src/wire/lease-record.js";

// Default sim timing: lease 3000, renew 1000, drift 0.01, margin 60 → validFor 2910.
let sim: Sim;
afterEach(async () => {
  await sim?.stopAll();
});

const rec = (holder: string, token: number, released = false): LeaseRecord => ({
  v: LEASE_RECORD_VERSION, holder, token, leaseMs: 3000, renewMs: 1000, acquiredAt: 0, renewedAt: 0, released,
});
const entry = (revision: number, r: LeaseRecord): StoreEntry => ({ key: "test.leader", revision, operation: "put", value: encodeRecord(r) });

/**
 * Makes the shared store behave like a lagging new stream leader for the
 * next `times` renewals: the CAS is refused (not applied) and the following
 * `get` returns `stale(current)` instead of the current entry.
 */
function lagging(times: number, stale: (current: StoreEntry) => StoreEntry): { served: number } {
  const store = sim.store;
  const update = store.update.bind(store);
  const get = store.get.bind(store);
  let left = times;
  let serveStale = false;
  const out = { served: 0 };
  store.update = async (k, v, rev, o) => {
    if (left <= 0) return update(k, v, rev, o);
    left--;
    serveStale = true;
    throw new ConflictError(k, rev);
  };
  store.get = async (k, o) => {
    const cur = await get(k, o);
    if (!serveStale || !cur) return cur;
    serveStale = false;
    out.served++;
    return stale(cur);
  };
  return out;
}

async function leaderWithRenewals(seed: number) {
  sim = new Sim(seed);
  // Earlier history in the bucket, so that older revisions than the holder's token exist.
  for (let i = 0; i < 5; i++) await sim.store.create(`other${i}`, new Uint8Array([i]));
  const a = sim.add("a");
  await sim.until(() => a.election.isLeader(), 100);
  await sim.until(() => a.events.filter((e) => e.type === "renewed").length >= 2, 5_000, 1);
  return a;
}

describe("verifying after a lost renewal CAS, on a stale read", () => {
  it("an older revision held by the predecessor does not depose the holder; the next renewal lands", async () => {
    const a = await leaderWithRenewals(31);
    const token = a.election.leadership()!.token;
    const mark = a.events.length;
    // The lagging leader still shows the record a took over from (predecessor b, token-1).
    lagging(1, () => entry(token - 1, rec("b", token - 1)));
    await sim.advance(3_000);
    expect(a.events.slice(mark).filter((e) => e.type === "deposed")).toEqual([]);
    expect(a.election.isLeader()).toBe(true);
    expect(a.events.slice(mark).some((e) => e.type === "renewed")).toBe(true);
  });

  it("an older revision of its own record neither deposes nor extends validity", async () => {
    const a = await leaderWithRenewals(32);
    const before = a.election.leadership()!;
    const lag = lagging(1, (cur) => entry(cur.revision - 1, rec("a", before.token)));
    const mark = a.events.length;
    await sim.until(() => lag.served === 1, 2_000, 1);
    await sim.advance(1, 1);
    // The stale read did not move the deadline.
    expect(a.election.leadership()?.validUntil).toBe(before.validUntil);
    expect(a.events.slice(mark).filter((e) => e.type === "deposed")).toEqual([]);
    await sim.advance(2_000);
    expect(a.election.isLeader()).toBe(true);
  });

  it("stale reads forever: the holder keeps retrying and lapses exactly at its deadline, never later", async () => {
    const a = await leaderWithRenewals(33);
    const before = a.election.leadership()!;
    lagging(1_000, (cur) => entry(cur.revision - 1, rec("b", before.token - 1)));
    await sim.until(() => !a.election.isLeader(), 5_000, 1);
    const dep = a.events.find((e) => e.type === "deposed")!;
    expect(dep).toMatchObject({ reason: "lapsed", token: before.token });
    expect(dep.t).toBeGreaterThanOrEqual(before.validUntil);
    expect(dep.t - before.validUntil).toBeLessThanOrEqual(1);
    expect(a.events.filter((e) => e.type === "renewed" && e.t > dep.t - 3_000 && e.validUntil > before.validUntil)).toEqual([]);
  });

  it("a newer revision held by someone else still supersedes at once", async () => {
    const a = await leaderWithRenewals(34);
    const before = a.election.leadership()!;
    lagging(1, (cur) => entry(cur.revision + 1, rec("b", cur.revision + 1)));
    await sim.until(() => a.events.some((e) => e.type === "deposed"), 2_000, 1);
    expect(a.events.find((e) => e.type === "deposed")).toMatchObject({ reason: "superseded", token: before.token });
    expect(a.election.isLeader()).toBe(false);
  });

  it("an absent key (a delete whose revision a get cannot tell) still supersedes", async () => {
    const a = await leaderWithRenewals(35);
    lagging(1, () => null as unknown as StoreEntry);
    await sim.until(() => a.events.some((e) => e.type === "deposed"), 2_000, 1);
    expect(a.events.find((e) => e.type === "deposed")).toMatchObject({ reason: "superseded" });
  });
});
