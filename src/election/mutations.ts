/**
 * Mutation hooks of one election (single-store or quorum). The simulation's mutation tests
 * (test/sim/sim.test.ts) break one safety rule on purpose and check that the
 * simulation catches it. The hooks ride on a `simulation` options object
 * through this module, not on the public `ElectionOptions` type: an
 * application cannot switch a safety rule off by filling in an option, and
 * `regent` does not export this module.
 */
import type { electionMachine } from "./machine.js";
import type { QuorumRules } from "./quorum-rules.js";
import type { Timing } from "./timing.js";

export interface ElectionMutations {
  /** Replaces parts of the machine. */
  machine?: (machine: typeof electionMachine) => typeof electionMachine;
  /** Replaces the steady renewals' validity rule (they run outside the machine). */
  renewedDeadline?: (sentAt: number, repliedAt: number, timing: Timing) => number;
  /** Replaces safety rules of a quorum election. */
  quorumRules?: Partial<QuorumRules>;
}

const hooks = new WeakMap<object, ElectionMutations>();

/** Attaches mutations to a `simulation` options object; returns the same object. */
export function withMutations<T extends object>(simulation: T, mutations: ElectionMutations): T {
  hooks.set(simulation, mutations);
  return simulation;
}

/** The mutations attached to `simulation`: none for any object {@link withMutations} did not see. */
export function mutationsOf(simulation: object | undefined): ElectionMutations {
  return (simulation && hooks.get(simulation)) || {};
}
