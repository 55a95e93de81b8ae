import { afterEach, describe, expect, it } from "vitest";
import { viewOf } from "../../src/lease/record.js";
import { QuorumSim } from "./quorum-sim.js";

// lease 3000, renew 1000, drift 0.01, margin 60 → validFor 2910.
let sim: QuorumSim;
afterEach(async () => {
  await sim?.stopAll();
});

describe("quorum election (SimulatedClock + 3 memory stores)", () => {
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
