/**
 * Two candidates that become eligible at the same moment (the global leader's
 * region died; both surviving regional leaders watched the same term for a
 * lease), each nearer to a different store: the split that cost 14 s on real
 * servers (docs/quorum.md, "Contention and liveness").
 */
import { afterEach, describe, expect, it } from "vitest";
import { viewOf } from "../../src/lease/record.js";
import type { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import { QuorumSim, type QParticipant } from "../../src/sim/quorum-sim.js";

let sim: QuorumSim;
afterEach(async () => {
  await sim?.stopAll();
});

const writes = (op: string) => op === "create" || op === "update";

/** Resolves (on the simulated clock) once `pred` holds. */
function simWait(pred: () => Promise<boolean>): Promise<void> {
  return new Promise((resolve) => {
    const check = async () => ((await pred()) ? resolve() : sim.clock.setTimeout(() => void check(), 1));
    void check();
  });
}

const holderOn = async (store: MemoryLeaseStore, id: string) => {
  const v = viewOf(await store.get("test.leader"));
  return v.state === "held" && v.holder === id;
};

describe("quorum election: contention", () => {
  it("two rivals, each nearer a different store, one store dead: one of them wins at once (no split)", async () => {
    sim = new QuorumSim(3, 21);
    sim.stores[0]!.setAvailable(false);
    const b = sim.add("b");
    const c = sim.add("c");
    const bidding = (p: QParticipant) => p.election.state() === "bidding";
    // b is nearer s1 and c nearer s2: each one's write to the far store lands
    // after the rival's write there (or once the rival bids no more).
    c.links[1]!.beforeNext(writes, () => simWait(async () => (await holderOn(sim.stores[1]!, "b")) || !bidding(b)));
    b.links[2]!.beforeNext(writes, () => simWait(async () => (await holderOn(sim.stores[2]!, "c")) || !bidding(c)));
    await sim.until(() => bidding(b) || bidding(c), 5_000, 1);
    const took = await sim.until(() => b.election.isLeader() || c.election.isLeader(), 20_000, 1);
    expect(took).toBeLessThan(100);
    expect(sim.leaders()).toHaveLength(1);
    // The loser lost the lead store and wrote nowhere else: no record of it anywhere.
    const loser = b.election.isLeader() ? c : b;
    for (const st of sim.stores.slice(1)) expect((viewOf(await st.get("test.leader")) as { holder?: string }).holder).not.toBe(loser.id);
    const wrote = (i: number) => (loser.links[i]!.calls.create ?? 0) + (loser.links[i]!.calls.update ?? 0);
    expect(wrote(1) + wrote(2)).toBe(1);
  });

  it("a bid whose lead store changes under a read in flight is not stuck: it is retried and wins", async () => {
    sim = new QuorumSim(3, 22);
    const a = sim.add("a", { candidate: false });
    await sim.advance(4_000); // every store watched vacant for a lease
    // The next read of the lead store hangs (a store gone slow): it fails after attemptMs.
    a.links[0]!.hangNext((op) => op === "get");
    const before = a.links[0]!.calls.get ?? 0;
    await sim.until(() => (a.links[0]!.calls.get ?? 0) > before, 5_000, 1);
    a.election.setCandidate(true);
    expect(a.election.state()).toBe("bidding");
    await sim.until(() => a.election.isLeader(), 15_000);
  });
});

describe("quorum election: candidacy", () => {
  it("an observer reads and watches but never writes; made a candidate it takes stores it watched for a lease at once", async () => {
    sim = new QuorumSim(3, 23);
    const a = sim.add("a", { candidate: false });
    await sim.advance(10_000);
    expect(a.election.state()).toBe("following");
    expect(a.links.every((l) => !l.calls.create && !l.calls.update)).toBe(true);
    expect(a.links.every((l) => (l.calls.get ?? 0) > 0)).toBe(true);
    a.election.setCandidate(true);
    const took = await sim.until(() => a.election.isLeader(), 2_000, 1);
    expect(took).toBeLessThan(50);
  });

  it("withdrawing ends a held term before it returns (deposed, signal aborted) and gives every store back", async () => {
    sim = new QuorumSim(3, 24);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 5_000);
    const signal = a.election.leadership()!.signal;
    a.election.setCandidate(false);
    expect(a.election.isLeader()).toBe(false);
    expect(signal.aborted).toBe(true);
    expect(a.events.at(-1)).toMatchObject({ type: "deposed", reason: "resigned" });
    await sim.advance(500);
    for (const st of sim.stores) expect(viewOf(await st.get("test.leader")).state).toBe("released");
    await sim.advance(10_000);
    expect(a.election.isLeader()).toBe(false);
  });

  it("a bid withdrawn while its writes are in flight does not elect, even if the candidacy is offered again before they land", async () => {
    sim = new QuorumSim(3, 25);
    const a = sim.add("a", { candidate: false });
    await sim.advance(4_000);
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    // The lead (s0) lands; the writes to s1 and s2, a majority with it, are held in flight.
    a.links[1]!.beforeNext((op) => op === "create", () => held);
    a.links[2]!.beforeNext((op) => op === "create", () => held);
    a.election.setCandidate(true);
    await sim.advance(20);
    expect((viewOf(await sim.stores[0]!.get("test.leader")) as { holder?: string }).holder).toBe("a");
    a.election.setCandidate(false);
    a.election.setCandidate(true);
    release();
    await sim.advance(50, 1);
    expect(a.events.filter((e) => e.type === "elected")).toHaveLength(0);
    // The next bid, in the current candidacy, wins.
    await sim.until(() => a.election.isLeader(), 15_000);
  });
});
