/**
 * Issue 14: records the protocol never writes (SimulatedClock + memory
 * store). The holder watches its key and stops at once on any change it did
 * not write; a follower takes a release at once only when it can attribute
 * it (the term secret), and waits out a forged release or delete for a full
 * lease. docs/safety.md, R9.
 */
import { afterEach, describe, expect, it } from "vitest";
import { viewOf } from "../../src/lease/record.js";
import { Sim, type SimParticipant } from "../../src/sim/election-sim.js";
import { commitOf, encodeRecord, type LeaseRecord } from "../../src/wire/lease-record.js";

// Default sim timing: lease 3000, renew 1000, drift 0.01, margin 60 → validFor 2910.
const KEY = "test.leader";
let sim: Sim;
afterEach(async () => {
  await sim?.stopAll();
});

async function current(): Promise<LeaseRecord & { revision: number; tokenOf: number }> {
  const e = (await sim.store.get(KEY))!;
  const v = viewOf(e);
  if (v.state !== "held" && v.state !== "released") throw new Error(`unexpected ${v.state}`);
  return { ...v.record, revision: e.revision, tokenOf: v.token };
}

/**
 * A holder `a` and a follower `b` that has watched a's term for a full lease,
 * so it trusts a's commitment (b did not see the term start: R9).
 */
async function twoCandidates(seed: number): Promise<{ a: SimParticipant; b: SimParticipant; token: number }> {
  sim = new Sim(seed);
  const a = sim.add("a");
  await sim.until(() => a.election.isLeader(), 100);
  const b = sim.add("b");
  await sim.advance(3_100);
  return { a, b, token: a.election.leadership()!.token };
}

const forgedRelease = (r: LeaseRecord, extra: Partial<LeaseRecord> = {}): Uint8Array => {
  const { commit: _drop, ...rest } = r;
  return encodeRecord({ ...rest, released: true, reveal: "a guess", ...extra });
};

describe("forged records (SimulatedClock + memory store)", () => {
  it("a forged release (holder and token copied): the holder stops at once, the follower waits a full lease", async () => {
    const { a, b, token } = await twoCandidates(41);
    const rec = await current();
    const forgedAt = sim.now();
    sim.store.forge(KEY, "put", forgedRelease({ ...rec, token }));
    await sim.advance(5, 1);
    // Deposed within the same simulated step, without waiting for its next renewal.
    expect(a.election.isLeader()).toBe(false);
    expect(a.events.find((e) => e.type === "deposed")).toMatchObject({ reason: "superseded", token });
    expect(a.events.find((e) => e.type === "deposed")!.t - forgedAt).toBeLessThanOrEqual(5);
    expect(b.election.isLeader()).toBe(false);
    await sim.until(() => sim.leaders().length === 1, 10_000);
    const took = sim.now() - forgedAt;
    expect(took).toBeGreaterThanOrEqual(3_000);
    expect(took).toBeLessThan(3_000 + 1_100); // plus at most one reconcile interval
    expect(sim.leaders()[0]!.election.leadership()!.token).toBeGreaterThan(token);
  });

  it("a genuine release is still taken at once (the reveal matches the term's commitment)", async () => {
    const { a, b, token } = await twoCandidates(42);
    const rec = await current();
    expect(rec.commit).toMatch(/^[0-9a-f]{64}$/);
    const seen: LeaseRecord[] = [];
    const ac = new AbortController();
    void (async () => {
      for await (const e of sim.store.watch(KEY, { signal: ac.signal })) {
        const v = viewOf(e);
        if (v.state === "released") seen.push(v.record);
      }
    })();
    const resignedAt = sim.now();
    await a.election.resign();
    ac.abort();
    expect(seen).toHaveLength(1);
    expect(commitOf(seen[0]!.reveal!)).toBe(rec.commit);
    await sim.until(() => b.election.isLeader(), 1_000, 1);
    expect(sim.now() - resignedAt).toBeLessThan(50);
    expect(b.election.leadership()!.token).toBeGreaterThan(token);
  });

  it("a release that reveals the right secret for the wrong term is not taken at once", async () => {
    const { a, b, token } = await twoCandidates(43);
    expect(a.events.some((e) => e.type === "elected" && e.token === token)).toBe(true);
    await a.election.resign();
    await sim.until(() => b.election.isLeader(), 1_000, 1);
    const bRec = await current();
    expect(bRec.holder).toBe("b");
    // Replay a's revealed secret (simulated secrets are "sim-<id>-<n>") on b's term: b's commitment differs.
    const forgedAt = sim.now();
    sim.store.forge(KEY, "put", forgedRelease(bRec, { reveal: "sim-a-1", token: bRec.tokenOf }));
    await sim.advance(5, 1);
    expect(b.election.isLeader()).toBe(false);
    await sim.until(() => sim.leaders().length === 1, 10_000);
    expect(sim.now() - forgedAt).toBeGreaterThanOrEqual(3_000);
  });

  it("a forged delete: the holder stops at once, the follower waits a full lease and then creates", async () => {
    const { a, b, token } = await twoCandidates(44);
    const forgedAt = sim.now();
    sim.store.forge(KEY, "delete");
    await sim.advance(5, 1);
    expect(a.election.isLeader()).toBe(false);
    expect(a.events.find((e) => e.type === "deposed")).toMatchObject({ reason: "superseded", token });
    expect(b.election.isLeader()).toBe(false);
    await sim.until(() => sim.leaders().length === 1, 10_000);
    expect(sim.now() - forgedAt).toBeGreaterThanOrEqual(3_000);
    expect(sim.leaders()[0]!.election.leadership()!.token).toBeGreaterThan(token);
  });

  it("a forged held record with a jumped token (2^50): the holder stops at once; its release is not taken early", async () => {
    const { a, b, token } = await twoCandidates(45);
    const rec = await current();
    const poison = 2 ** 50;
    sim.store.forge(KEY, "put", encodeRecord({ ...rec, holder: "mallory", token: poison, commit: "0".repeat(64) }));
    await sim.advance(5, 1);
    expect(a.election.isLeader()).toBe(false);
    expect(a.events.find((e) => e.type === "deposed")).toMatchObject({ reason: "superseded", token });
    // Mallory "releases" with a secret matching its own commitment: the term started
    // over a record nobody had waited out, so it is not trusted.
    await sim.advance(200);
    sim.store.forge(KEY, "put", encodeRecord({ ...rec, holder: "mallory", token: poison, released: true, reveal: "x", commit: undefined }));
    await sim.advance(5, 1);
    expect(b.election.isLeader()).toBe(false);
    await sim.until(() => sim.leaders().length === 1, 10_000);
    // Neither legitimate candidate ever adopts the forged token.
    for (const p of [a, b]) for (const e of p.events) if (e.type === "elected") expect(e.token).toBeLessThan(poison);
  });

  it("the holder's own write that lands unconfirmed is not taken for a forgery", async () => {
    const { a, token } = await twoCandidates(46);
    // The next renewal lands but its reply is lost: the watch shows a newer revision of ours.
    a.link.loseReplyNext((op) => op === "update");
    await sim.advance(4_000);
    expect(a.election.isLeader()).toBe(true);
    expect(a.election.leadership()!.token).toBe(token);
    expect(a.events.filter((e) => e.type === "deposed")).toEqual([]);
  });

  it("a candidate that starts on a released record it never saw held waits a full lease", async () => {
    sim = new Sim(47);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 100);
    await a.election.stop();
    const b = sim.add("b");
    const took = await sim.until(() => b.election.isLeader(), 10_000);
    expect(took).toBeGreaterThanOrEqual(3_000);
  });
});
