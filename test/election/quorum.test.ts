import { afterEach, describe, expect, it } from "vitest";
import { viewOf } from "../../src/lease/record.js";
import { QuorumSim } from "../../src/sim/quorum-sim.js";
import { commitOf, encodeRecord } from "../../src/wire/lease-record.js";

// lease 3000, renew 1000, drift 0.01, margin 60 → validFor 2910.
let sim: QuorumSim;
afterEach(async () => {
  await sim?.stopAll();
});

describe("quorum election (SimulatedClock + 3 memory stores)", () => {
  it("foreign writes heard first after a stall past the deadline depose as lapsed, not superseded", async () => {
    sim = new QuorumSim(3, 21);
    // Time the holder's clock has counted that its timers have not run for: a stall in progress.
    let stalled = 0;
    const a = sim.add("a", { simulation: { now: () => sim.now() + stalled, clock: sim.clock, random: () => 0.5, wallNow: () => sim.now() } });
    await sim.until(() => a.election.isLeader(), 5_000);
    const lead = a.election.leadership()!;
    stalled = lead.validUntil - sim.now() + 1_000;
    const forged = encodeRecord({ v: 1, holder: "b", token: lead.token + 1, leaseMs: 3_000, renewMs: 1_000, acquiredAt: 0, renewedAt: 0, released: false });
    for (const s of sim.stores) s.forge("test.leader", "put", forged);
    await new Promise<void>((r) => setImmediate(r));
    expect(a.events.filter((e) => e.type === "deposed")).toMatchObject([{ reason: "lapsed", token: lead.token }]);
  });

  it("first start: vacant stores are taken only after a full lease; the token is the term, on every store", async () => {
    sim = new QuorumSim(3, 1);
    const a = sim.add("a");
    const took = await sim.until(() => a.election.isLeader(), 5_000);
    expect(took).toBeGreaterThanOrEqual(3000);
    const l = a.election.leadership()!;
    expect(l.token).toBe(1);
    for (const s of sim.stores) {
      const v = viewOf(await s.get("test.leader"));
      expect(v.state === "held" && v.holder === "a" && v.token === 1).toBe(true);
    }
  });

  it("resign asked after a stall past the deadline deposes as lapsed, not resigned", async () => {
    sim = new QuorumSim(3, 22);
    let stalled = 0;
    const a = sim.add("a", { simulation: { now: () => sim.now() + stalled, clock: sim.clock, random: () => 0.5, wallNow: () => sim.now() } });
    await sim.until(() => a.election.isLeader(), 5_000);
    const lead = a.election.leadership()!;
    stalled = lead.validUntil - sim.now() + 1_000;
    let done = false;
    const resigning = a.election.resign().then(() => (done = true));
    await sim.until(() => done, 1_000);
    await resigning;
    expect(a.events.filter((e) => e.type === "deposed")).toMatchObject([{ reason: "lapsed", token: lead.token }]);
  });

  it("acquires on a majority with one store dead, and keeps it without stepping down", async () => {
    sim = new QuorumSim(3, 2);
    sim.stores[2]!.setAvailable(false);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 5_000);
    await sim.advance(10_000);
    expect(a.election.isLeader()).toBe(true);
    expect(a.events.filter((e) => e.type === "deposed")).toHaveLength(0);
    expect(a.events.filter((e) => e.type === "renewed").length).toBeGreaterThanOrEqual(8);
  });

  it("one store going down costs a holder nothing; it takes the store back when it returns", async () => {
    sim = new QuorumSim(3, 3);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 5_000);
    const before = a.election.leadership()!;
    sim.stores[0]!.setAvailable(false);
    await sim.advance(8_000);
    expect(a.election.leadership()?.token).toBe(before.token);
    sim.stores[0]!.setAvailable(true);
    await sim.advance(5_000);
    expect(a.election.isLeader()).toBe(true);
    expect(a.events.filter((e) => e.type === "deposed")).toHaveLength(0);
    const v = viewOf(await sim.stores[0]!.get("test.leader"));
    expect(v.state === "held" && v.holder).toBe("a");
  });

  it("hands over in milliseconds after a resign; the successor's term is higher", async () => {
    sim = new QuorumSim(3, 4);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 5_000);
    const b = sim.add("b");
    await sim.advance(4_000); // b has watched every store for a full lease
    expect(b.election.isLeader()).toBe(false);
    const t0 = sim.now();
    await a.election.resign();
    const took = await sim.until(() => b.election.isLeader(), 2_000, 1);
    expect(took).toBeLessThan(50);
    expect(b.election.leadership()!.token).toBeGreaterThan(1);
    expect(sim.now() - t0).toBeLessThan(50);
    expect(a.election.isLeader()).toBe(false);
  });

  it("a resign that no follower trusts yet is not won back by the resigner when it sees its releases first", async () => {
    sim = new QuorumSim(3, 14);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 5_000);
    const b = sim.add("b");
    // b joined mid-term: it trusts the term's releases only after a full lease
    // (R9), and its watches miss them, so the resigner sees them first.
    await sim.advance(500);
    for (const l of b.links) l.dropWatchNext((e) => viewOf(e).state === "released");
    await a.election.resign();
    await sim.until(() => a.election.isLeader() || b.election.isLeader(), 15_000, 1);
    expect(b.election.isLeader()).toBe(true);
    expect(a.election.isLeader()).toBe(false);
  });

  it("a crashed holder is replaced only after a full lease of silence on a majority", async () => {
    sim = new QuorumSim(3, 5);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 5_000);
    const b = sim.add("b");
    await sim.advance(2_000);
    const lastValid = a.election.leadership()!.validUntil;
    for (const l of a.links) l.setDown(true);
    await sim.until(() => b.election.isLeader(), 10_000);
    // b waited at least a full lease after a's last successful write, so after a's deadline.
    expect(sim.now()).toBeGreaterThan(lastValid);
    expect(b.election.leadership()!.token).toBeGreaterThan(1);
  });

  it("releases minority wins: two candidates each cut from a different store still end with one leader", async () => {
    sim = new QuorumSim(3, 6);
    const a = sim.add("a");
    const b = sim.add("b");
    // a cannot reach store 2, b cannot reach store 0: each can win at most
    // store 1 plus its private store, so one of them wins store 1 and the
    // other holds a minority it must give back.
    a.links[2]!.setDown(true);
    b.links[0]!.setDown(true);
    await sim.until(() => sim.leaders().length === 1, 20_000);
    const [winner] = sim.leaders();
    const loser = winner === a ? b : a;
    await sim.advance(3_000);
    expect(sim.leaders()).toEqual([winner]);
    // The loser's private store does not stay blocked by a held record of it.
    const priv = loser === a ? sim.stores[0]! : sim.stores[2]!;
    const v = viewOf(await priv.get("test.leader"));
    expect(v.state === "released" && v.holder === loser.id).toBe(true);
  });

  it("mixed timing: a successor with a shorter lease waits the holder's longer one", async () => {
    sim = new QuorumSim(3, 7);
    const a = sim.add("a", { leaseMs: 9000 });
    await sim.until(() => a.election.isLeader(), 12_000);
    const b = sim.add("b", { leaseMs: 1000 });
    await sim.advance(500);
    const lastValid = a.election.leadership()!.validUntil;
    for (const l of a.links) l.setDown(true);
    await sim.until(() => b.election.isLeader(), 30_000, 10);
    expect(sim.now()).toBeGreaterThan(lastValid);
  });
});

describe("quorum election: a straggler store with a higher term", () => {
  it("a holder takes back a store that shows a higher term nobody holds (a loser's partial bid), so one more store's loss costs it nothing", async () => {
    sim = new QuorumSim(3, 21);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 5_000);
    const term = a.election.leadership()!.token;
    // A competitor's bid for a higher term won store 2 only and was given
    // back (its release), while a holds stores 0 and 1: a straggler.
    const v = viewOf(await sim.stores[2]!.get("test.leader"));
    if (v.state !== "held") throw new Error(v.state);
    sim.stores[2]!.forge("test.leader", "put", encodeRecord({ ...v.record, holder: "b", token: term + 3, commit: undefined, released: true, reveal: "b".repeat(32) }));
    // A lease and a bit later, a holds store 2 again, in its own term.
    await sim.advance(2 * 3000 + 500);
    const again = viewOf(await sim.stores[2]!.get("test.leader"));
    expect(again.state === "held" && again.holder === "a" && again.token === term).toBe(true);
    // Then store 0 dies: stores 1 and 2 still back a.
    sim.stores[0]!.setAvailable(false);
    await sim.advance(10_000);
    expect(a.election.leadership()?.token).toBe(term);
    expect(a.events.filter((e) => e.type === "deposed")).toHaveLength(0);
  });
});

/**
 * Forged records (docs/quorum.md, "Forged records"; the single-store rule is
 * R9 of safety.md). A forger with write rights on the stores writes records
 * no regent process writes, without any CAS.
 */
describe("quorum election: forged records", () => {
  const KEY = "test.leader";
  const heldOn = async (i: number) => {
    const v = viewOf(await sim.stores[i]!.get(KEY));
    if (v.state !== "held") throw new Error(`store ${i}: ${v.state}`);
    return v;
  };
  /** Runs until `pred`, failing at once if a and b are ever leaders at the same moment. */
  const noOverlapUntil = async (a: { election: { isLeader(): boolean } }, b: { election: { isLeader(): boolean } }, pred: () => boolean, maxMs: number) => {
    let overlapAt: number | null = null;
    await sim.until(() => {
      if (overlapAt === null && a.election.isLeader() && b.election.isLeader()) overlapAt = sim.now();
      return overlapAt !== null || pred();
    }, maxMs, 5);
    expect(overlapAt, "both leaders at once").toBeNull();
  };

  it("a forged release on a majority (holder cut off from it) is waited out for a full lease, not taken at once", async () => {
    sim = new QuorumSim(3, 11);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 5_000);
    const b = sim.add("b");
    await sim.advance(4_000); // b trusts a's term on every store
    // a cannot see the forgery (cut from stores 0 and 1) and keeps its validity until its deadline.
    a.links[0]!.setDown(true);
    a.links[1]!.setDown(true);
    const aValid = a.election.leadership()!.validUntil;
    const forgedAt = sim.now();
    for (const i of [0, 1]) {
      const v = await heldOn(i);
      sim.stores[i]!.forge(KEY, "put", encodeRecord({ ...v.record, commit: undefined, released: true, reveal: "0".repeat(32) }));
    }
    await noOverlapUntil(a, b, () => b.election.isLeader(), 10_000);
    expect(sim.now()).toBeGreaterThan(aValid);
    // Waited a full lease from the forgery, not taken at once.
    expect(sim.now() - forgedAt).toBeGreaterThanOrEqual(3000);
  });

  it("a forged delete, then a forged term and its release with the right secret, is waited out", async () => {
    sim = new QuorumSim(3, 12);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 5_000);
    const b = sim.add("b");
    await sim.advance(4_000);
    a.links[0]!.setDown(true);
    a.links[1]!.setDown(true);
    const aValid = a.election.leadership()!.validUntil;
    const term = a.election.leadership()!.token;
    const forgedAt = sim.now();
    for (const i of [0, 1]) {
      const v = await heldOn(i);
      sim.stores[i]!.forge(KEY, "delete");
      await sim.advance(5);
      const forged = { ...v.record, holder: "forger", token: term + 1, commit: commitOf("forger-secret"), reveal: undefined };
      sim.stores[i]!.forge(KEY, "put", encodeRecord({ ...forged, released: false }));
      await sim.advance(5);
      sim.stores[i]!.forge(KEY, "put", encodeRecord({ ...forged, commit: undefined, released: true, reveal: "forger-secret" }));
    }
    await noOverlapUntil(a, b, () => b.election.isLeader(), 10_000);
    expect(sim.now()).toBeGreaterThan(aValid);
    expect(sim.now() - forgedAt).toBeGreaterThanOrEqual(3000);
  });

  it("a holder stops at once on a delete on a majority of its stores, even with its renewals there in flight", async () => {
    sim = new QuorumSim(3, 14);
    const b = sim.add("b");
    await sim.until(() => b.election.isLeader(), 5_000);
    // The holder's side: b holds every store, its renewals on stores 0
    // and 1 in flight (held back before they reach the store); a delete
    // there stops it at once, before any renewal answers.
    await sim.until(() => sim.stores.every((s) => viewOf(s.peek(KEY)).state === "held"), 5_000);
    const gates: (() => void)[] = [];
    for (const i of [0, 1]) b.links[i]!.beforeNext((op) => op === "update", () => new Promise<void>((r) => gates.push(r)));
    await sim.until(() => gates.length === 2, 2_000, 1);
    expect(b.election.isLeader()).toBe(true);
    const deleteAt = sim.now();
    try {
      sim.stores[0]!.forge(KEY, "delete");
      sim.stores[1]!.forge(KEY, "delete");
      await sim.until(() => !b.election.isLeader(), 5_000, 1);
      expect(sim.now() - deleteAt).toBeLessThan(20);
      expect(b.events.find((e) => e.type === "deposed")).toMatchObject({ reason: "superseded" });
    } finally {
      for (const g of gates) g();
    }
  });

  it("a renewal whose reply comes after a forged write over it does not count that store", async () => {
    sim = new QuorumSim(3, 15);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 5_000);
    // a's next renewal on store 0 lands, then a forger writes over it, then
    // (once the watch has shown that) the reply comes back.
    const link = a.links[0]!;
    const update = link.update.bind(link);
    let gate: (() => void) | null = null;
    link.update = async (...args) => {
      link.update = update;
      const rev = await update(...args);
      const v = viewOf(sim.stores[0]!.peek(KEY));
      if (v.state !== "held") throw new Error(v.state);
      sim.stores[0]!.forge(KEY, "put", encodeRecord({ ...v.record, commit: undefined, released: true, reveal: "0".repeat(32) }));
      await new Promise<void>((r) => (gate = r));
      return rev;
    };
    await sim.until(() => gate !== null, 2_000, 1);
    await sim.advance(5);
    gate!();
    await sim.advance(5);
    expect(a.election.isLeader()).toBe(true); // stores 1 and 2 still back it
    // Store 0 must not count again: one more forged write, on store 1, leaves a single store.
    const forgedAt = sim.now();
    sim.stores[1]!.forge(KEY, "delete");
    await sim.until(() => !a.election.isLeader(), 5_000, 1);
    expect(sim.now() - forgedAt).toBeLessThan(20);
  });

  it("a copy of the holder's own record never extends its validity", async () => {
    sim = new QuorumSim(3, 13);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 5_000);
    const b = sim.add("b");
    await sim.advance(4_000);
    // A forger publishes a verbatim copy of a's record on stores 0 and 1
    // that a's watch misses. a's next renewal there conflicts, and a is cut
    // from both stores right then: the copy is all it could have counted.
    const copiedAt = sim.now();
    for (const i of [0, 1]) {
      a.links[i]!.dropWatchNext(() => true);
      sim.stores[i]!.forge(KEY, "put", sim.stores[i]!.peek(KEY)!.value);
      a.links[i]!.beforeNext((op) => op === "update", () => a.links[i]!.setDown(true));
    }
    const validBefore = a.election.leadership()!.validUntil;
    let extended = false;
    a.election.on((e) => {
      if (e.type === "renewed" && e.validUntil > validBefore) extended = true;
    });
    await noOverlapUntil(a, b, () => b.election.isLeader(), 15_000);
    expect(extended).toBe(false);
    expect(a.election.isLeader()).toBe(false);
    expect(sim.now() - copiedAt).toBeGreaterThanOrEqual(3000);
  });
});

/**
 * Store calls that never answer (a lost request or ack, a region whose
 * servers are gone): every call has a deadline (`attemptMs`; a renewal's
 * shortened by `attemptTimeoutMs` near that store's deadline), after which a
 * write's outcome is unknown and a read has failed.
 */
describe("quorum election: store calls that never answer", () => {
  // lease 3000, renew 1000, retry 250, validFor 2910 → attemptMs 705.
  const ATTEMPT_MS = 705;
  /** Ends a candidacy whose stop() hung (the unfixed code), so the test fails instead of hanging. */
  const forceStop = async (p: { election: { stop(o: { signal: AbortSignal }): Promise<void> } }) => {
    await p.election.stop({ signal: AbortSignal.abort() }).catch(() => undefined);
  };

  it("a renewal that hangs forever on one store: the holder keeps the lease on the others and retries it after the deadline", async () => {
    sim = new QuorumSim(3, 21);
    const a = sim.add("a");
    try {
      await sim.until(() => a.election.isLeader(), 5_000);
      const link = a.links[0]!;
      const revBefore = sim.stores[0]!.peek("test.leader")!.revision;
      const sent = link.calls.update ?? 0;
      const reads = link.calls.get ?? 0;
      link.hangNext((op) => op === "update");
      await sim.until(() => (link.calls.update ?? 0) > sent, 2_000, 1);
      const hungAt = sim.now();
      // The retry comes after the attempt's deadline, and soon after it (a backoff of at most 1.5 × retryMs).
      const waited = await sim.until(() => (link.calls.update ?? 0) > sent + 1 || (link.calls.get ?? 0) > reads, 3_000, 1);
      expect(waited).toBeGreaterThanOrEqual(ATTEMPT_MS - 1);
      expect(waited).toBeLessThanOrEqual(ATTEMPT_MS + 400);
      expect(a.events.some((e) => e.type === "error" && e.t >= hungAt)).toBe(true);
      // The store comes back into the holder's hands; the lease was never lost.
      await sim.until(() => {
        const v = viewOf(sim.stores[0]!.peek("test.leader"));
        return v.state === "held" && v.holder === "a" && v.revision > revBefore;
      }, 5_000);
      await sim.advance(5_000);
      expect(a.election.isLeader()).toBe(true);
      expect(a.events.filter((e) => e.type === "deposed")).toHaveLength(0);
    } finally {
      await forceStop(a);
    }
  });

  it("stop() completes while a store call hangs", async () => {
    sim = new QuorumSim(3, 22);
    const a = sim.add("a");
    const link = a.links[0]!;
    try {
      await sim.until(() => a.election.isLeader(), 5_000);
      const before = (link.calls.update ?? 0) + (link.calls.get ?? 0) + (link.calls.create ?? 0);
      link.hanging = true;
      await sim.until(() => (link.calls.update ?? 0) + (link.calls.get ?? 0) + (link.calls.create ?? 0) > before, 3_000, 1);
      let done = false;
      void a.election.stop().then(() => (done = true));
      const took = await sim.until(() => done, 10_000, 1);
      // A hung call, then a hung release, each given up after its attempt.
      expect(took).toBeLessThanOrEqual(2 * ATTEMPT_MS + 50);
      expect(a.election.state()).toBe("stopped");
      for (const i of [1, 2]) {
        const v = viewOf(sim.stores[i]!.peek("test.leader"));
        expect(v.state === "released" && v.holder === "a").toBe(true);
      }
    } finally {
      link.hanging = false;
      await forceStop(a);
    }
  });
});
