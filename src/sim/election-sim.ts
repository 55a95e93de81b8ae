/**
 * Deterministic election harness for unit tests: xstate's SimulatedClock
 * drives the machine's timers and its `now()`, the in-memory store is the
 * lease store (each participant through its own scripted {@link FaultyStore}
 * link), and a seeded PRNG replaces Math.random. Time moves only when a test
 * steps it; the seeded simulation (run-seed.ts) schedules on its own.
 */
import { SimulatedClock } from "xstate";
import { CheckFailedError } from "../errors.js";
import { MemoryLeaseStore } from "../lease/memory-store.js";
import { startElection, type Election, type ElectionEvent, type ElectionOptions } from "../election/election.js";
import { FaultyStore } from "./faulty-store.js";
import { prng } from "./run-seed.js";

export { prng };

/** Lets every pending promise callback run (store results, watch deliveries). */
export const flush = () => new Promise<void>((r) => setImmediate(r));

export interface SimParticipant {
  id: string;
  election: Election;
  link: FaultyStore;
  events: (ElectionEvent & { t: number })[];
}

/**
 * Simulated time for the harnesses: a SimulatedClock that starts at 1 s (so
 * "0" never looks like a time), a seeded PRNG, and stepping helpers that
 * flush pending promises between steps.
 */
export class SimTime {
  readonly clock = new SimulatedClock();
  protected readonly random: () => number;

  constructor(seed = 1) {
    this.random = prng(seed);
    this.clock.set(1_000);
  }

  now(): number {
    return this.clock.now();
  }

  /** Advances simulated time in small steps, flushing promises between them. */
  async advance(ms: number, step = 5): Promise<void> {
    await flush();
    for (let t = 0; t < ms; t += step) {
      this.clock.increment(Math.min(step, ms - t));
      await flush();
    }
  }

  /** Advances until `pred` holds or `maxMs` passed; returns the simulated time it took. */
  async until(pred: () => boolean, maxMs: number, step = 5): Promise<number> {
    const start = this.now();
    await flush();
    while (!pred()) {
      if (this.now() - start > maxMs) throw new CheckFailedError(`condition not met within ${maxMs} simulated ms`);
      this.clock.increment(step);
      await flush();
    }
    return this.now() - start;
  }
}

export class Sim extends SimTime {
  readonly store = new MemoryLeaseStore("sim");
  readonly participants: SimParticipant[] = [];

  add(id: string, opts: Partial<ElectionOptions> = {}): SimParticipant {
    const link = new FaultyStore(this.store);
    const election = startElection({
      key: "test.leader",
      leaseMs: 3000,
      ...opts,
      id,
      store: link,
      simulation: { now: () => this.clock.now(), clock: this.clock, random: this.random, wallNow: () => this.clock.now() },
    });
    const p: SimParticipant = { id, election, link, events: [] };
    election.on((e) => p.events.push({ ...e, t: this.clock.now() }));
    this.participants.push(p);
    return p;
  }

  leaders(): SimParticipant[] {
    return this.participants.filter((p) => p.election.isLeader());
  }

  async stopAll(): Promise<void> {
    // Stopping resigns through the store; keep links up and time moving.
    for (const p of this.participants) p.link.setDown(false);
    const stopping = Promise.all(this.participants.map((p) => p.election.stop()));
    let done = false;
    void stopping.then(() => (done = true));
    await this.until(() => done, 60_000).catch(() => undefined);
    await stopping;
  }
}
