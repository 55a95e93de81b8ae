/**
 * Deterministic harness for the quorum election: N in-memory stores, each
 * participant with its own cuttable link to each, on xstate's SimulatedClock.
 */
import { SimulatedClock } from "xstate";
import { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import type { ElectionEvent } from "../../src/election/election.js";
import { startQuorumElection, type QuorumElection, type QuorumElectionOptions } from "../../src/election/quorum.js";
import { FaultyStore } from "../harness/faulty-store.js";
import { prng } from "../../src/sim/run-seed.js";
import { flush } from "./sim.js";

export interface QParticipant {
  id: string;
  election: QuorumElection;
  links: FaultyStore[];
  events: (ElectionEvent & { t: number })[];
}

export class QuorumSim {
  readonly clock = new SimulatedClock();
  readonly stores: MemoryLeaseStore[];
  readonly participants: QParticipant[] = [];
  private readonly random: () => number;

  constructor(n = 3, seed = 1) {
    this.random = prng(seed);
    this.clock.set(1_000);
    this.stores = Array.from({ length: n }, (_, i) => new MemoryLeaseStore(`s${i}`));
  }

  now(): number {
    return this.clock.now();
  }

  add(id: string, opts: Partial<QuorumElectionOptions> = {}): QParticipant {
    const links = this.stores.map((s) => new FaultyStore(s));
    const election = startQuorumElection({
      key: "test.leader",
      leaseMs: 3000,
      ...opts,
      id,
      stores: links,
      simulation: { now: () => this.clock.now(), clock: this.clock, random: this.random, wallNow: () => this.clock.now(), ...opts.simulation },
    });
    const p: QParticipant = { id, election, links, events: [] };
    election.on((e) => p.events.push({ ...e, t: this.clock.now() }));
    this.participants.push(p);
    return p;
  }

  async advance(ms: number, step = 5): Promise<void> {
    await flush();
    for (let t = 0; t < ms; t += step) {
      this.clock.increment(Math.min(step, ms - t));
      await flush();
    }
  }

  async until(pred: () => boolean, maxMs: number, step = 5): Promise<number> {
    const start = this.now();
    await flush();
    while (!pred()) {
      if (this.now() - start > maxMs) throw new Error(`condition not met within ${maxMs} simulated ms`);
      this.clock.increment(step);
      await flush();
    }
    return this.now() - start;
  }

  leaders(): QParticipant[] {
    return this.participants.filter((p) => p.election.isLeader());
  }

  async stopAll(): Promise<void> {
    for (const p of this.participants) for (const l of p.links) l.setDown(false);
    const stopping = Promise.all(this.participants.map((p) => p.election.stop()));
    let done = false;
    void stopping.then(() => (done = true));
    await this.until(() => done, 60_000).catch(() => undefined);
    await stopping;
  }
}
