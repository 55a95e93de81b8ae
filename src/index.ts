/**
 * regent: leader election with fencing tokens on NATS JetStream KV.
 *
 * The public API, on one screen (README, "Library API"; test/structure/api.test.ts
 * pins this list, so growing it is a deliberate act). What `regent node` wires
 * around a node (the deployment's buckets, the request bus, the events stream,
 * metrics, NATS permissions, the record and event codecs) is `regent/wiring`;
 * the tools regent's own tests use (memory store, split-brain oracle,
 * nats-server launcher, topology loader, simulation) are `regent/testing`.
 */

// One election: a candidacy, its events and its terms; following one without standing.
export { startElection, Election } from "./election/election.js";
export type { ElectionOptions, ElectionEvent, Leadership } from "./election/election.js";
export type { DeposedReason } from "./wire/events.js";
export { observe, currentLeader } from "./election/observe.js";
export type { LeaderInfo, ObserveOptions } from "./election/observe.js";
export type { Timing, TimingOptions } from "./election/timing.js";

// Where leases live: the store interface and its NATS JetStream KV implementation.
export type { LeaseStore, StoreEntry, CallOptions, WatchOptions } from "./lease/store.js";
export { NatsLeaseStore } from "./lease/nats-store.js";
export type { NatsLeaseStoreOptions } from "./lease/nats-store.js";

// At the protected resource: reject stale fencing tokens.
export { FencingGuard } from "./lease/fencing.js";
export type { FencingGuardOptions } from "./lease/fencing.js";

// A multi-region node: regional and global leadership, scopes.
export { startNode, RegentNode } from "./hierarchy/node.js";
export type { NodeOptions, NodeRoleEvent, Role, ScopeOptions } from "./hierarchy/node.js";
export type { MoveResult } from "./scopes/types.js";

// Events as subscribers of the events stream receive them (docs/wire.md).
export { decodeEvent } from "./wire/events.js";
export type { WireEvent, LeaderEvent, ScopeEvent } from "./wire/events.js";

// Logging and NATS credentials, as the CLI takes them.
export { createLogger } from "./observability/logger.js";
export type { Logger } from "./observability/logger.js";
export { natsAuthOptions } from "./util/nats-auth.js";
export type { NatsAuth } from "./util/nats-auth.js";

// Errors: every one regent throws is a RegentError with a stable `code`.
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
