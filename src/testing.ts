/**
 * `regent/testing`: the tools regent's own tests are built on, for
 * applications that want to test their use of regent the same way. Not part
 * of the election API (`regent`): these start processes, read files and
 * drive simulated clocks.
 *
 * - an in-memory lease store, for unit tests of code that stands in elections;
 * - split-brain oracle: record leadership intervals, check that none overlap;
 * - launcher: real nats-server processes, clusters and superclusters on
 *   loopback, and `regent` child processes;
 * - topology loader: the `regions/` directory format;
 * - simulation: the seeded fault simulation behind `npm run sim`.
 */
export { MemoryLeaseStore } from "./lease/memory-store.js";
export { IntervalRecorder, readIntervals, checkIntervals } from "./observability/oracle.js";
export { monotonicNowMs } from "./util/clock.js";
export type { LeadershipInterval, CheckResult, Violation } from "./observability/oracle.js";
export { startNatsServer, startNatsCluster, findNatsServer, waitFor, waitForStreamLeader, streamLeader } from "./launcher/nats-launcher.js";
export type { NatsServerHandle, NatsServerMember, StartNatsServerOptions, StartNatsClusterOptions, WaitForOptions } from "./launcher/nats-launcher.js";
export { startSupercluster } from "./launcher/supercluster.js";
export { superclusterPlan } from "./topology/plan.js";
export type { Supercluster, StartSuperclusterOptions } from "./launcher/supercluster.js";
export type { ServerMode } from "./hierarchy/store-layout.js";
export { RegentProcess, CandidateProcess, waitUntil } from "./launcher/candidates.js";
export type { CandidateEvent, CandidateSpec, RegentProcessOptions } from "./launcher/candidates.js";
export { loadTopology, topologyFromObject, findRegion, TopologyError } from "./topology/load.js";
export type { Topology, RegionSpec, TierTiming } from "./topology/load.js";
export { runSeed, prng, DEFAULT_CONFIG as SIM_DEFAULT_CONFIG } from "./sim/run-seed.js";
export type { SeedOptions, SeedResult } from "./sim/run-seed.js";
export { SimWorld, MUTATIONS } from "./sim/world.js";
export type { Mutation, WorldConfig } from "./sim/world.js";
export { runQuorumSeed, QUORUM_MUTATIONS } from "./sim/quorum-run.js";
export type { QuorumMutation, QuorumSeedOptions, QuorumSeedResult } from "./sim/quorum-run.js";
