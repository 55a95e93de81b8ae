/**
 * Steady renewals outside the machine (src/election/steady.ts): a leader
 * whose renewals succeed takes no machine transition for them, and every
 * event that does reach the machine sees what those renewals changed.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { AnyActorRef } from "xstate";
import { viewOf } from "../../src/lease/record.js";
import type { CallOptions, LeaseStore } from "../../src/lease/store.js";
import type { Election } from "../../src/election/election.js";
import { Sim } from "../../src/sim/election-sim.js";

// Default sim timing: lease 3000, renew 1000, drift 0.01, margin 60 → validFor 2910.
let sim: Sim;
afterEach(async () => {
  await sim?.stopAll();
});

/** Counts the snapshots the election's machine produces (one per processed event). */
function transitions(e: Election): { count: number; stop: () => void } {
  const actor = (e as unknown as { actor: AnyActorRef }).actor;
  const c = { count: 0, stop: () => {} };
  const sub = actor.subscribe(() => c.count++);
  c.stop = () => sub.unsubscribe();
  return c;
}

describe("steady renewals", () => {
  it("a leader renews ten times with no machine transition; its own renewals on the watch never reach the machine", async () => {
    sim = new Sim(11);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 100);
    const t = transitions(a.election);
    const renewedBefore = a.events.filter((e) => e.type === "renewed").length;
    await sim.advance(10_000);
    t.stop();
    const renewed = a.events.filter((e) => e.type === "renewed");
    expect(renewed.length - renewedBefore).toBeGreaterThanOrEqual(9);
    // Each renewed event carries the validity counted from the renewal's send.
    expect(a.election.leadership()!.validUntil).toBe(renewed.at(-1)!.validUntil);
    expect(t.count).toBe(0);
    expect(a.events.filter((e) => e.type === "deposed")).toHaveLength(0);
  });

  it("a resign after steady renewals releases the latest revision: the successor takes over at once", async () => {
    sim = new Sim(12);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 100);
    const b = sim.add("b");
    await sim.advance(5_000);
    const rev = (await sim.store.get("test.leader"))!.revision;
    expect(rev).toBeGreaterThan(a.election.leadership()!.token + 3);
    void a.election.resign();
    const took = await sim.until(() => b.election.isLeader(), 3_000, 1);
    expect(took).toBeLessThan(100); // a release, not a lease waited out
    const released = a.events.find((e) => e.type === "deposed");
    expect(released).toMatchObject({ reason: "resigned" });
  });

  it("a failed renewal after steady ones is retried by the machine on the latest revision; then steady again", async () => {
    sim = new Sim(13);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 100);
    await sim.advance(3_500);
    a.link.setDown(true);
    await sim.advance(1_500);
    a.link.setDown(false);
    await sim.advance(1_500);
    expect(a.election.isLeader()).toBe(true);
    expect(a.events.some((e) => e.type === "error" && e.op === "renew")).toBe(true);
    const t = transitions(a.election);
    await sim.advance(5_000);
    t.stop();
    expect(t.count).toBe(0);
    expect(a.events.filter((e) => e.type === "deposed")).toHaveLength(0);
    const v = viewOf(await sim.store.get("test.leader"));
    expect(v.state === "held" && v.holder).toBe("a");
  });

  it("a superseding write after steady renewals deposes at once (the watch sees it as foreign)", async () => {
    sim = new Sim(14);
    const a = sim.add("a");
    await sim.until(() => a.election.isLeader(), 100);
    await sim.advance(3_500);
    const cur = (await sim.store.get("test.leader"))!;
    await sim.store.update("test.leader", cur.value, cur.revision);
    await sim.until(() => !a.election.isLeader(), 100, 1);
    expect(a.events.find((e) => e.type === "deposed")).toMatchObject({ reason: "superseded" });
  });

  it("a renewal whose store call never settles, signal or not: deposed (lapsed) at the deadline", async () => {
    sim = new Sim(15);
    let swallow = false;
    const a = sim.add("a");
    // A store that ignores the abort of a hung update: only the deadline can end the term.
    const link = a.link as LeaseStore & { update: LeaseStore["update"] };
    const update = link.update.bind(link);
    link.update = (key: string, value: Uint8Array, rev: number, opts?: CallOptions) => (swallow ? new Promise<number>(() => {}) : update(key, value, rev, opts));
    await sim.until(() => a.election.isLeader(), 100);
    await sim.advance(2_500);
    const before = a.election.leadership()!;
    swallow = true;
    await sim.until(() => !a.election.isLeader(), 5_000, 1);
    await sim.advance(5);
    const deposed = a.events.find((e) => e.type === "deposed")!;
    expect(deposed).toMatchObject({ reason: "lapsed", token: before.token });
    expect(deposed.t).toBeGreaterThanOrEqual(before.validUntil);
    expect(deposed.t - before.validUntil).toBeLessThanOrEqual(5);
    swallow = false;
  });
});
