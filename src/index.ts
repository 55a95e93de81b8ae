/**
 * regent: leader election with fencing tokens on NATS JetStream KV.
 * This module exports the public API only.
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
export { encodeRecord, decodeRecord, viewOf, LEASE_RECORD_VERSION } from "./lease/record.js";
export type { LeaseRecord, LeaseView } from "./lease/record.js";
export { FencingGuard } from "./lease/fencing.js";
export { monotonicNowMs, IntervalRecorder, readIntervals, checkIntervals } from "./observability/oracle.js";
export type { LeadershipInterval, CheckResult, Violation } from "./observability/oracle.js";
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
} from "./errors.js";
