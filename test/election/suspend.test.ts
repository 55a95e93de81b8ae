/**
 * A holder whose host was suspended: its monotonic clock (and so its deadline
 * arithmetic) did not count the suspended time. It must not be leader the
 * moment it runs again, and is deposed at once, whatever validity it thought
 * it had left.
 */
import { afterEach, describe, expect, it } from "vitest";
import { startElection, type Election, type ElectionEvent } from "../../src/election/election.js";
import { createSuspendDetector } from "../../src/observability/suspend.js";
import { flush, prng, Sim } from "../../src/sim/election-sim.js";
import { encodeRecord } from "../../src/wire/lease-record.js";

let sim: Sim;
let elections: Election[] = [];
afterEach(async () => {
  await sim?.stopAll();
  let done = false;
  const stopping = Promise.all(elections.map((e) => e.stop())).then(() => (done = true));
  await sim?.until(() => done, 60_000).catch(() => undefined);
  await stopping;
  elections = [];
});

/** A candidate on the simulated clock whose BOOTTIME can jump while the monotonic clock stands still. */
function candidate(id: string, leaseMs = 10_000) {
  let boot = 0;
  // Time the holder's clock has counted that its timers have not yet run for: an event-loop stall in progress.
  let stalled = 0;
  const suspend = createSuspendDetector({ boottimeMs: () => sim.now() + boot, monotonicMs: () => sim.now() });
  const events: (ElectionEvent & { t: number })[] = [];
  const election = startElection({
    key: "test.leader",
    id,
    leaseMs,
    store: sim.store,
    simulation: { now: () => sim.now() + stalled, clock: sim.clock, random: prng(7), wallNow: () => sim.now(), suspend },
  });
  election.on((e) => events.push({ ...e, t: sim.now() }));
  elections.push(election);
  return { election, events, suspendFor: (ms: number) => (boot += ms), stallFor: (ms: number) => (stalled += ms) };
}

describe("host suspend", () => {
  it("a leader is not leader right after a suspend, reports a stall and is deposed (lapsed) at once", async () => {
    sim = new Sim(41);
    const a = candidate("a");
    await sim.until(() => a.election.isLeader(), 100);
    await sim.advance(500);
    const lead = a.election.leadership()!;
    expect(lead.validUntil - sim.now()).toBeGreaterThan(8_000); // plenty of validity left, on its own clock

    a.suspendFor(20_000); // the monotonic clock does not move
    expect(a.election.isLeader()).toBe(false);
    await flush();
    const dep = a.events.find((e) => e.type === "deposed");
    expect(dep).toMatchObject({ reason: "lapsed", token: lead.token });
    expect(dep!.t).toBe(sim.now()); // no simulated time passed
    expect(lead.signal.aborted).toBe(true);
    expect(a.events.find((e) => e.type === "stall")).toMatchObject({ durationMs: 20_000, token: lead.token });
    expect(a.election.stallStats().count).toBe(1);
  });

  it("tick() (the stall probe's path) deposes too, without anyone asking isLeader()", async () => {
    sim = new Sim(42);
    const a = candidate("a");
    await sim.until(() => a.election.isLeader(), 100);
    a.suspendFor(3_000);
    a.election.tick();
    await flush();
    expect(a.events.find((e) => e.type === "deposed")).toMatchObject({ reason: "lapsed" });
  });

  it("a suspend while the acquiring write is in flight: never announced as elected on the stale clock", async () => {
    sim = new Sim(43);
    // The create's reply arrives 100 ms after it was sent (simulated).
    const store = sim.store;
    const create = store.create.bind(store);
    let sent = false;
    store.create = (k, v, o) => {
      sent = true;
      return create(k, v, o).then((rev) => new Promise<number>((r) => sim.clock.setTimeout(() => r(rev), 100)));
    };
    const a = candidate("a");
    await sim.until(() => sent, 100, 1);
    a.suspendFor(30_000);
    a.election.tick(); // the stall probe runs before the reply is processed
    await sim.advance(200, 1);
    expect(a.events.filter((e) => e.type === "elected")).toEqual([]);
    expect(a.election.isLeader()).toBe(false);
  });

  it("a foreign write heard first after a stall past the deadline: deposed as lapsed, not superseded", async () => {
    // Seen on a real process: after SIGSTOP beyond the lease and SIGCONT, the
    // socket read with the successor's write ran before the deadline timer.
    // The holder lost nothing while it was valid: its own deadline ended it.
    sim = new Sim(45);
    const a = candidate("a");
    await sim.until(() => a.election.isLeader(), 100);
    const lead = a.election.leadership()!;
    a.stallFor(lead.validUntil - sim.now() + 1_000);
    sim.store.forge("test.leader", "put", encodeRecord({ v: 1, holder: "b", token: lead.token + 1, leaseMs: 10_000, renewMs: 3_000, acquiredAt: 0, renewedAt: 0, released: false }));
    await flush();
    expect(a.events.filter((e) => e.type === "deposed")).toMatchObject([{ reason: "lapsed", token: lead.token }]);
  });

  it("resign asked after a stall past the deadline: deposed as lapsed, not resigned", async () => {
    sim = new Sim(47);
    const a = candidate("a");
    await sim.until(() => a.election.isLeader(), 100);
    const lead = a.election.leadership()!;
    a.stallFor(lead.validUntil - sim.now() + 1_000);
    await a.election.resign();
    expect(a.events.filter((e) => e.type === "deposed")).toMatchObject([{ reason: "lapsed", token: lead.token }]);
  });

  it("stop asked after a stall past the deadline: deposed as lapsed, not stopped", async () => {
    sim = new Sim(48);
    const b = candidate("b");
    await sim.until(() => b.election.isLeader(), 100);
    const term = b.election.leadership()!;
    b.stallFor(term.validUntil - sim.now() + 1_000);
    let stopped = false;
    const stopping = b.election.stop().then(() => (stopped = true));
    await sim.until(() => stopped, 1_000);
    await stopping;
    expect(b.events.filter((e) => e.type === "deposed")).toMatchObject([{ reason: "lapsed", token: term.token }]);
  });

  it("a foreign write heard while still valid is superseded", async () => {
    sim = new Sim(46);
    const a = candidate("a");
    await sim.until(() => a.election.isLeader(), 100);
    const lead = a.election.leadership()!;
    sim.store.forge("test.leader", "put", encodeRecord({ v: 1, holder: "b", token: lead.token + 1, leaseMs: 10_000, renewMs: 3_000, acquiredAt: 0, renewedAt: 0, released: false }));
    await flush();
    expect(a.events.filter((e) => e.type === "deposed")).toMatchObject([{ reason: "superseded", token: lead.token }]);
  });

  it("a short suspend well inside the tolerance changes nothing", async () => {
    sim = new Sim(44);
    const a = candidate("a");
    await sim.until(() => a.election.isLeader(), 100);
    a.suspendFor(10);
    expect(a.election.isLeader()).toBe(true);
    await sim.advance(100);
    expect(a.events.filter((e) => e.type === "deposed" || e.type === "stall")).toEqual([]);
  });
});
