/**
 * regent: leader election with fencing tokens on NATS JetStream KV.
 * This module exports the public API only; the tools regent's own tests use
 * (split-brain oracle, nats-server launcher, topology loader, simulation)
 * are in `regent/testing` (src/testing.ts).
 */
export { startElection, Election } from "./election/election.js";
export type { ElectionOptions, ElectionEvent, Leadership, TimerClock } from "./election/election.js";
export type { DeposedReason } from "./election/machine.js";
export { observe, currentLeader } from "./election/observe.js";
export type { LeaderInfo, ObserveOptions } from "./election/observe.js";
export { resolveTiming } from "./election/timing.js";
export type { Timing, TimingOptions } from "./election/timing.js";
export type { LeaseStore, StoreEntry, CallOptions, WatchOptions } from "./lease/store.js";
export { NatsLeaseStore } from "./lease/nats-store.js";
export type { NatsLeaseStoreOptions } from "./lease/nats-store.js";
export { MemoryLeaseStore } from "./lease/memory-store.js";
export { LazyLeaseStore } from "./lease/lazy-store.js";
export type { LazyStoreOptions } from "./lease/lazy-store.js";
export { encodeRecord, decodeRecord, viewOf, LEASE_RECORD_VERSION } from "./lease/record.js";
export type { LeaseRecord, LeaseView } from "./lease/record.js";
export { FencingGuard } from "./lease/fencing.js";
export type { FencingGuardOptions } from "./lease/fencing.js";
export { startNode, RegentNode, REGIONAL_KEY, GLOBAL_KEY } from "./hierarchy/node.js";
export type { NodeOptions, NodeRoleEvent, Role, ScopeOptions } from "./hierarchy/node.js";
export { openStoreLayout, regionBucket, regionServerBucket, regionServerPlacement, regionalBuckets, regionalLayout, quorumBucket, quorumOrder, quorumPlacement, serverName, serverTag } from "./hierarchy/store-layout.js";
export type { StoreLayout, ServerMode } from "./hierarchy/store-layout.js";
export { serveNode, readState } from "./hierarchy/bus.js";
export type { StateSource, MoveRequest, MoveReply, LayoutStores } from "./hierarchy/bus.js";
export { EventPublisher, ensureEventsStream, readEventsStream, readEventsStreams, eventsStreamName, regionEventsStreamName } from "./hierarchy/events-stream.js";
export type { StoredEvent, ReadEventsOptions } from "./hierarchy/events-stream.js";
export { startQuorumElection, QuorumElection } from "./election/quorum.js";
export type { LesseeEvent, ScopeEndReason } from "./scopes/types.js";
export type { MoveResult } from "./scopes/types.js";
export { subjects } from "./wire/subjects.js";
export { encodeEvent, decodeEvent, WIRE_VERSION } from "./wire/events.js";
export type { LeaderEvent, ScopeEvent, StateSnapshot, LeaseRow, WireEvent } from "./wire/events.js";
export { identitiesOf, permissionsOf, serverAccessConf } from "./topology/access.js";
export type { Identity, Permissions, Role as AccessRole } from "./topology/access.js";
export { natsAuthOptions, natsAuthFromEnv, redactUrl, NATS_AUTH_ENV } from "./util/nats-auth.js";
export type { NatsAuth } from "./util/nats-auth.js";
export type { Topology, RegionSpec } from "./topology/load.js";
export { RegentMetrics, serveMetrics } from "./hierarchy/metrics.js";
export { NodeHealth } from "./observability/health.js";
export type { ProbeResult } from "./observability/health.js";
export { createLogger, silentLogger } from "./observability/logger.js";
export type { Logger } from "./observability/logger.js";
export {
  RegentError,
  ErrorCode,
  ConfigError,
  ConflictError,
  StoreUnavailableError,
  BucketMissingError,
  MalformedError,
  AbortedError,
  StoppedError,
  NotLeaderError,
  StaleTokenError,
  TokenFloorError,
  RefusedError,
} from "./errors.js";
