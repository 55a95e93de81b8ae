import { afterEach, describe, expect, it } from "vitest";
import { AbortedError, StoreUnavailableError } from "../../src/errors.js";
import { viewOf } from "../../src/lease/record.js";
import { Sim } from "../../src/sim/election-sim.js";
import { encodeRecord, LEASE_RECORD_VERSION } from "../../src/wire/lease-record.js";

// Default sim timing: lease 3000, renew 1000, drift 0.01, margin 60 → validFor 2910.
let sim: Sim;
afterEach(async () => {
  await sim?.stopAll();
});

describe("election machine (SimulatedClock + memory store)", () => {
  it("acquires a vacant lease by create; the token is the acquiring revision", async () => {
    sim = new Sim(1);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 100);
    const l = a.election.leadership()!;
    const entry = await sim.store.get("test.leader");
    const v = viewOf(entry);
    expect(v.state).toBe("held");
    expect(v.state === "held" && v.holder).toBe("a");
    expect(l.token).toBe(entry!.revision);
    expect(l.validUntil - sim.now()).toBeGreaterThan(2800);
    expect(a.events.map((e) => e.type)).toContain("elected");
  });

  it("renews by CAS every renew interval; the token does not change; validity moves", async () => {
    sim = new Sim(2);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 100);
    const first = a.election.leadership()!;
    const rev0 = (await sim.store.get("test.leader"))!.revision;
    await sim.advance(10_000);
    const later = a.election.leadership()!;
    expect(later.token).toBe(first.token);
    expect(later.validUntil).toBeGreaterThan(first.validUntil + 9_000);
    const rev1 = (await sim.store.get("test.leader"))!.revision;
    expect(rev1 - rev0).toBeGreaterThanOrEqual(9); // ~10 renewals in 10 s
    expect(a.events.filter((e) => e.type === "renewed").length).toBeGreaterThanOrEqual(9);
    expect(a.events.filter((e) => e.type === "deposed")).toHaveLength(0);
  });

  it("keeps leadership through a store outage shorter than the validity, without stepping down", async () => {
    sim = new Sim(3);
    const a = sim.add("a", { leaseMs: 10_000 });
    await sim.until(() => a.election.isLeader(), 100);
    await sim.advance(100);
    sim.store.setAvailable(false);
    await sim.advance(6_000); // a 4–8 s stream-leader election, inside a 10 s lease
    expect(a.election.isLeader()).toBe(true);
    sim.store.setAvailable(true);
    await sim.advance(5_000);
    expect(a.election.isLeader()).toBe(true);
    expect(a.events.filter((e) => e.type === "deposed")).toHaveLength(0);
    expect(a.events.some((e) => e.type === "error")).toBe(true);
  });

  it("lapses at the deadline during a long outage: deposed(lapsed) exactly at send + validFor", async () => {
    sim = new Sim(4);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 100);
    const before = a.election.leadership()!;
    sim.store.setAvailable(false);
    await sim.until(() => !a.election.isLeader(), 5_000, 1);
    const deposed = a.events.find((e) => e.type === "deposed");
    expect(deposed).toMatchObject({ type: "deposed", reason: "lapsed", token: before.token });
    // Never before the deadline the holder computed, and promptly at it.
    expect(deposed!.t).toBeGreaterThanOrEqual(before.validUntil);
    expect(deposed!.t - before.validUntil).toBeLessThanOrEqual(1);
    expect(before.signal.aborted).toBe(true);
  });

  it("takes over only after watching the same revision unchanged for a full lease", async () => {
    sim = new Sim(5);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 100);
    const b = sim.add("b");
    await sim.advance(2_000);
    expect(b.election.isLeader()).toBe(false);
    // A "crashes": its link is cut, it can no longer renew.
    a.link.setDown(true);
    const lastRev = (await sim.store.get("test.leader"))!.revision;
    const cutAt = sim.now();
    await sim.until(() => b.election.isLeader(), 10_000);
    const aDeposed = a.events.find((e) => e.type === "deposed")!;
    const bElected = b.events.find((e) => e.type === "elected")!;
    expect(aDeposed.t).toBeLessThan(bElected.t); // no overlap
    // B saw revision lastRev at the latest when it was written (before the cut) and waited a full lease after.
    expect(bElected.t - cutAt).toBeGreaterThan(3000 - 1000);
    expect(bElected.t - cutAt).toBeLessThanOrEqual(3000 + 50);
    expect(b.election.leadership()!.token).toBeGreaterThan(lastRev);
  });

  it("a fresh candidate finding a held record waits out one lease", async () => {
    sim = new Sim(6);
    // A record held by a dead holder, written before B starts.
    await sim.store.create(
      "test.leader",
      encodeRecord({ v: LEASE_RECORD_VERSION, holder: "dead", token: 0, leaseMs: 3000, renewMs: 1000, acquiredAt: 0, renewedAt: 0, released: false }),
    );
    const b = sim.add("b");
    const took = await sim.until(() => b.election.isLeader(), 10_000);
    expect(took).toBeGreaterThanOrEqual(3000);
    expect(took).toBeLessThan(3100);
  });

  it("resign hands over within a round trip; deposed(resigned) precedes the successor", async () => {
    sim = new Sim(7);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 100);
    const b = sim.add("b");
    const c = sim.add("c");
    // Followers that did not see the term start trust its release after watching it for a full lease (safety.md, R9).
    await sim.advance(3_100);
    const tokenA = a.election.leadership()!.token;
    const resigned = a.election.resign();
    const took = await sim.until(() => b.election.isLeader() || c.election.isLeader(), 1_000, 1);
    await resigned;
    expect(took).toBeLessThanOrEqual(2);
    const successor = b.election.isLeader() ? b : c;
    expect(successor.election.leadership()!.token).toBeGreaterThan(tokenA);
    expect(a.events.find((e) => e.type === "deposed")).toMatchObject({ reason: "resigned", token: tokenA });
    expect(a.election.isLeader()).toBe(false);
    // The resigner does not grab its own released record back.
    await sim.advance(2_000);
    expect(sim.leaders().map((p) => p.id)).toEqual([successor.id]);
  });

  it("a resign that no follower trusts yet is not won back by the resigner when it sees its release first", async () => {
    sim = new Sim(11);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 100);
    const b = sim.add("b");
    // b joined mid-term, so it trusts this term's release only after a full
    // lease (R9); and its watch misses the release, so the resigner observes
    // its own release first. Both then wait out a lease on the same revision.
    await sim.advance(500);
    b.link.dropWatchNext((e) => viewOf(e).state === "released");
    await a.election.resign();
    await sim.until(() => sim.leaders().length > 0, 15_000, 1);
    expect(sim.leaders().map((p) => p.id)).toEqual(["b"]);
  });

  it("tokens strictly increase across many hand-overs and never two leaders at once", async () => {
    sim = new Sim(8);
    const ps = ["a", "b", "c"].map((id) => sim.add(id));
    const tokens: number[] = [];
    for (let i = 0; i < 12; i++) {
      await sim.until(() => sim.leaders().length === 1, 10_000, 1);
      const leader = sim.leaders()[0]!;
      tokens.push(leader.election.leadership()!.token);
      if (i % 2 === 0) await leader.election.resign();
      else {
        leader.link.setDown(true);
        await sim.until(() => !leader.election.isLeader(), 5_000, 1);
        leader.link.setDown(false);
      }
      expect(sim.leaders().length).toBeLessThanOrEqual(1);
    }
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
    expect(ps.length).toBe(3);
  });

  it("treats an undecodable record as held by unknown: no crash, no early takeover, logged once", async () => {
    sim = new Sim(9);
    await sim.store.create("test.leader", new Uint8Array([0xc1, 0xff, 0x00]));
    const b = sim.add("b");
    await sim.advance(2_000);
    expect(b.election.isLeader()).toBe(false);
    expect(b.events.find((e) => e.type === "leader-changed")).toMatchObject({ leader: "unknown" });
    const took = await sim.until(() => b.election.isLeader(), 5_000);
    expect(took + 2_000).toBeGreaterThanOrEqual(3_000);
  });

  it("a stop() of the leader releases, so a follower takes over at once", async () => {
    sim = new Sim(10);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 100);
    const b = sim.add("b");
    await sim.advance(3_100); // a full lease of watching a's term: its release is trusted (safety.md, R9)
    const stopping = a.election.stop();
    await sim.until(() => b.election.isLeader(), 50, 1);
    await stopping;
    expect(a.events.find((e) => e.type === "deposed")).toMatchObject({ reason: "stopped" });
  });
});

describe("renewal attempts during an outage", () => {
  // Writes sent into the outage are lost: no reply, and the store's own
  // timeout (2.5 s here) reports them late.
  function blackhole(from: number, until: number) {
    const store = sim.store;
    const update = store.update.bind(store);
    store.update = (k, v, rev, o) => {
      if (sim.now() < from || sim.now() >= until) return update(k, v, rev, o);
      return new Promise<number>((_, reject) => {
        const t = sim.clock.setTimeout(() => reject(new StoreUnavailableError("update timed out after 2500 ms")), 2500);
        o?.signal?.addEventListener("abort", () => {
          sim.clock.clearTimeout(t);
          reject(new AbortedError("aborted"));
        });
      });
    };
  }

  it("abandon a lost retry early, so the first write after the outage lands inside the validity", async () => {
    sim = new Sim(13);
    const a = sim.add("a", { leaseMs: 10_000 }); // renew 3333, validFor 9700
    await sim.until(() => a.election.isLeader(), 100);
    await sim.until(() => a.events.some((e) => e.type === "renewed"), 5_000, 1);
    const last = a.events.findLast((e) => e.type === "renewed")!;
    // A 9 s outage starting right after that renewal: with every attempt
    // waiting out the full store timeout, the one in flight when the store
    // comes back would only fail after the deadline (checked: it does).
    blackhole(sim.now(), sim.now() + 9_000);
    await sim.advance(12_000);
    expect(a.events.filter((e) => e.type === "deposed")).toEqual([]);
    expect(a.election.isLeader()).toBe(true);
    const after = a.events.find((e) => e.type === "renewed" && e.t > last.t)!;
    expect(after.t - last.t).toBeLessThan(9_700);
    expect(a.events.filter((e) => e.type === "error").length).toBeGreaterThanOrEqual(4); // shorter attempts, more of them
  });
});

describe("a win heard too late", () => {
  it("is never announced: no elected event, the lease is released, and the follower stays fenced", async () => {
    sim = new Sim(12);
    // A store whose write replies arrive 5 s late (a stalled link): the write lands, the reply does not.
    const slow = sim.store;
    const origCreate = slow.create.bind(slow);
    let delay = 5000;
    slow.create = (k, v, o) =>
      origCreate(k, v, o).then((rev) => new Promise<number>((r) => sim.clock.setTimeout(() => r(rev), delay)));
    const a = sim.add("a");
    await sim.advance(6000);
    expect(a.events.some((e) => e.type === "elected")).toBe(false);
    expect(a.election.isLeader()).toBe(false);
    // It gave the lease back, so it can be won normally afterwards.
    delay = 0;
    const v = viewOf(await slow.get("test.leader"));
    expect(v.state).toBe("released");
  });
});
