/**
 * `regent/wiring`: what `regent node` (src/cli/node.ts) wires around
 * {@link startNode}, for applications that run a node themselves and want the
 * CLI, the dashboard and Prometheus to see it like any other: the
 * deployment's buckets, the request bus (`regent status`, `resign`,
 * `failover`), the events stream (`regent watch`), metrics and health
 * probes, the NATS permissions of each identity, the quorum election of the
 * global tier, and the lease record and event codecs of docs/wire.md.
 * The election API itself is `regent`.
 */
export { openStoreLayout, regionalLayout } from "./hierarchy/store-layout.js";
export type { StoreLayout, ServerMode } from "./hierarchy/store-layout.js";
export { LazyLeaseStore } from "./lease/lazy-store.js";
export type { LazyStoreOptions } from "./lease/lazy-store.js";
export { serveNode, readState } from "./hierarchy/bus.js";
export type { StateSource, LayoutStores } from "./hierarchy/bus.js";
export type { MoveRequest, MoveReply } from "./wire/move.js";
export { EventPublisher, ensureEventsStream, readEventsStream, readEventsStreams } from "./hierarchy/events-stream.js";
export type { StoredEvent, ReadEventsOptions } from "./hierarchy/events-stream.js";
export { REGIONAL_KEY, GLOBAL_KEY, eventsStreamName, regionEventsStreamName } from "./wire/names.js";
export { startQuorumElection, QuorumElection } from "./election/quorum.js";
export type { QuorumElectionOptions } from "./election/quorum.js";
export { resolveTiming } from "./election/timing.js";
export type { LesseeEvent, ScopeEndReason } from "./scopes/types.js";
export { RegentMetrics, serveMetrics } from "./hierarchy/metrics.js";
export { NodeHealth } from "./observability/health.js";
export type { ProbeResult } from "./observability/health.js";
export { identitiesOf, permissionsOf, serverAccessConf } from "./topology/access.js";
export type { Identity, Permissions, Role as AccessRole } from "./topology/access.js";
export { natsAuthFromEnv, redactUrl, NATS_AUTH_ENV } from "./util/nats-auth.js";
export { subjects } from "./wire/subjects.js";
export { encodeEvent, WIRE_VERSION } from "./wire/events.js";
export type { StateSnapshot, LeaseRow } from "./wire/events.js";
export { viewOf } from "./lease/record.js";
export type { LeaseView } from "./lease/record.js";
export { encodeRecord, decodeRecord, LEASE_RECORD_VERSION } from "./wire/lease-record.js";
export type { LeaseRecord } from "./wire/lease-record.js";
