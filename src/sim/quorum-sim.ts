/**
 * Deterministic harness for the quorum election: N in-memory stores, each
 * participant with its own cuttable link to each, on xstate's SimulatedClock.
 */
import { MemoryLeaseStore } from "../lease/memory-store.js";
import type { ElectionEvent } from "../election/election.js";
import { startQuorumElection, type QuorumElection, type QuorumElectionOptions } from "../election/quorum.js";
import { FaultyStore } from "./faulty-store.js";
import { SimTime } from "./election-sim.js";

export interface QParticipant {
  id: string;
  election: QuorumElection;
  links: FaultyStore[];
  events: (ElectionEvent & { t: number })[];
}

export class QuorumSim extends SimTime {
  readonly stores: MemoryLeaseStore[];
  readonly participants: QParticipant[] = [];

  constructor(n = 3, seed = 1) {
    super(seed);
    this.stores = Array.from({ length: n }, (_, i) => new MemoryLeaseStore(`s${i}`));
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
