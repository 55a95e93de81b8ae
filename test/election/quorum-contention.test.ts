/**
 * Two candidates that become eligible at the same moment (the global leader's
 * region died; both surviving regional leaders watched the same term for a
 * lease), each nearer to a different store: the split that cost 14 s on real
 * servers (docs/quorum.md, "Contention and liveness").
 */
import { afterEach, describe, expect, it } from "vitest";
import { viewOf } from "../../src/lease/record.js";
import type { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import { QuorumSim, type QParticipant } from "./quorum-sim.js";

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
    // The loser gave nothing back: it never won a store.
    const loser = b.election.isLeader() ? c : b;
    expect(loser.events.filter((e) => e.type === "elected")).toHaveLength(0);
  });
});
