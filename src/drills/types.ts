/**
 * Types shared by the region-failover drills (`regent drill <scenario>`).
 * A drill starts a local deployment, injects one fault, measures recovery,
 * stops everything and judges the run with the split-brain oracle and the
 * fenced demo store; see docs/drills.md.
 */
import type { CheckResult } from "../observability/oracle.js";

/** Every scenario, in the order `regent drill all` runs them. */
export const SCENARIOS = [
  "kill-leader",
  "pause-leader",
  "kill-region",
  "nats-server-loss",
  "partition-region",
  "clock-skew",
  "leader-hotspot",
  "churn",
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export function isScenario(s: string): s is Scenario {
  return (SCENARIOS as readonly string[]).includes(s);
}

/** Options of one drill run. */
export interface DrillOptions {
  /** Topology directory (default `regions`). */
  regions: string;
  /** Reports go to `<out>/<scenario>-<timestamp>/` (default `drills`). */
  out: string;
  /** kill-leader / pause-leader: the global leader instead of a regional one. */
  global?: boolean;
  /** Region to hit (default: chosen by the scenario, see docs/drills.md). */
  region?: string;
  /** clock-skew: faketime spec of the in-bound node (default `+1h x0.995`). */
  skewIn?: string;
  /** clock-skew: faketime spec of the out-of-bound node (default `x0.5`). */
  skewOut?: string;
  /** churn: number of freeze/thaw flaps (default 6). */
  flaps?: number;
  /** partition-region: nats-server `ping_interval` (default "1s"; "default" = the server's own 2m). */
  natsPing?: string;
  /** Print progress lines on stderr. */
  verbose?: boolean;
  /** Keep the per-node intervals/acts files in the report directory. */
  keepRaw?: boolean;
}

/** Something that happened during the drill, on the shared CLOCK_MONOTONIC. */
export interface TimelineMark {
  t: number;
  label: string;
  kind: "fault" | "heal" | "recovered" | "note";
}

/** One leadership interval as reported (times on the shared clock). */
export interface ReportInterval {
  lease: string;
  holder: string;
  token: number;
  start: number;
  end: number;
}

/** Counts of the fenced demo store (`regent-demo-writes`). */
export interface FencedCounts {
  /** Act-log lines offered to the store (scope leases only). */
  offered: number;
  /** Accepted: token ≥ the highest token the store had accepted for the scope. */
  accepted: number;
  /** Rejected as stale: token below the store's highest for the scope. */
  rejectedStale: number;
  /** Offered while the store was unreachable (neither accepted nor rejected). */
  unavailable: number;
  /** Accepted writes acted after the actor's own term ended, or after a newer term of the lease began. Must be 0. */
  acceptedFromDeposed: number;
  /** The same, on leases where the scenario deliberately breaks the drift bound (reported, not failed). */
  acceptedFromDeposedUnsafe: number;
  /** Claim writes: a new holder fences the store with its token as soon as it starts. */
  claims: number;
  /** Per scope: accepted / rejected. */
  perScope: Record<string, { accepted: number; rejectedStale: number; highest: number }>;
  /** Up to 10 examples of accepted-from-deposed writes. */
  examples: string[];
}

/** The verdict of the oracle, split into leases where overlap was expected (clock-skew out of bound) and the rest. */
export interface OracleVerdict {
  ok: boolean;
  violations: string[];
  /** Violations on leases where the scenario deliberately breaks the drift bound (reported, not failed). */
  expectedViolations: string[];
  /** Guarded acts outside the actor's own recorded term (must be empty). */
  actsOutsideTerms: string[];
  intervals: number;
  acts: number;
}

/** What a scenario measured. */
export interface ScenarioOutcome {
  /** Fault injection to recovery, ms; null when it did not recover. */
  recoveryMs: number | null;
  /** What "recovered" means for this scenario. */
  recoveryWhat: string;
  /** Upper bound the scenario considers acceptable (the CI test uses it). */
  boundMs: number;
  /** Extra figures (leadership changes, stream-leader election time…). */
  metrics: Record<string, number | string | boolean | null>;
  /** Scenario-specific checks that must hold (besides the oracle), as messages; empty = all held. */
  failures: string[];
  /** Leases on which overlap is expected (clock-skew out of bound). */
  expectUnsafeLeases?: string[];
  notes: string[];
}

/** report.json */
export interface DrillReport {
  scenario: Scenario;
  startedAt: string;
  durationMs: number;
  host: { cpus: number; node: string; natsServer: string };
  fabric: "loopback" | "netns";
  /** Shared-clock time of the first fault; the timeline is relative to it. */
  faultAt: number | null;
  outcome: ScenarioOutcome;
  oracle: OracleVerdict;
  fenced: FencedCounts;
  marks: TimelineMark[];
  intervals: ReportInterval[];
  participants: { id: string; region: string; wrapper: string[] }[];
  /** All checks passed: oracle ok (outside expected-unsafe leases), no act outside a term, no accepted write from a deposed holder, scenario checks. */
  passed: boolean;
  skipped?: string;
  error?: string;
  dir: string;
}

export type { CheckResult };
