/**
 * Names on NATS other than subjects (those are in `subjects.ts`): the KV
 * buckets, the keys inside them, the events streams and the queue group.
 * Defined here once: the deployment layout, the nodes, the launcher, the
 * generated permissions and any client in another language (docs/wire.md)
 * must agree on every one of them.
 */

/** Bucket of `region`'s regional lease (light mode, or a full-mode region of one server). */
export const regionBucket = (region: string) => `regent-region-${region}`;
/**
 * `region`'s `n`-th regional bucket in full mode (n from 1): single-replica,
 * pinned to the region's `n`-th server. The regional lease is then a quorum
 * lease over the region's servers' buckets, so losing one server (and the
 * 4–9 s stall of an R3 stream whose leader it was) costs no renewal.
 */
export const regionServerBucket = (region: string, n: number) => `regent-region-${region}-${n}`;
/**
 * `region`'s store of the global and scope quorum leases (docs/quorum.md):
 * one single-replica bucket per region, in that region's own cluster, pinned
 * to its first server. Holds {@link GLOBAL_KEY} and the {@link scopeKey} records.
 */
export const quorumBucket = (region: string) => `regent-quorum-${region}`;

/** Key of the regional lease inside the region's bucket(s). */
export const REGIONAL_KEY = "leader";
/** Key of the global lease inside every quorum bucket. */
export const GLOBAL_KEY = "global.leader";
/** Key of a scope lease inside every quorum bucket. */
export const scopeKey = (scope: string) => `scope.${scope}`;
/** Key filter matching every scope lease. */
export const SCOPE_FILTER = "scope.*";
/** Scope name from its key. */
export const scopeOfKey = (key: string) => key.slice("scope.".length);

/** Prefix of the keys regent keeps for itself in a bucket; they are never lease keys. */
export const RESERVED_KEY_PREFIX = "_regent.";
/**
 * The genesis record of a recreated bucket (docs/safety.md, "A lost bucket"):
 * in a bucket that has one, a key that was never written reads as held by an
 * unknown holder at the genesis revision (`genesis-record.ts`).
 */
export const GENESIS_KEY = `${RESERVED_KEY_PREFIX}genesis`;

/** The JetStream stream behind a KV bucket (NATS KV's convention). */
export const kvStreamName = (bucket: string) => `KV_${bucket}`;
/** The subject a KV write of `key` in `bucket` is published on (NATS KV's convention). */
export const kvSubject = (bucket: string, key: string) => `$KV.${bucket}.${key}`;

/** `region`'s own events stream, in its own cluster (issue 11): a region that is down takes only its own events with it. */
export const regionEventsStreamName = (cluster: string, region: string) => `regent-log-${cluster}-${region}`;
/**
 * The single events stream of regent before issue 11 (in the stretched
 * `global` cluster, capturing `regent-log.<cluster>.>`). Its subjects overlap
 * every region's capture subtree, so it must be deleted (operator) before
 * the per-region streams can be created.
 * @deprecated use {@link regionEventsStreamName}
 */
export const eventsStreamName = (cluster: string) => `regent-log-${cluster}`;
/** The region a `regent-log-<cluster>-<region>` stream name belongs to (null for another stream). */
export function regionOfEventsStream(cluster: string, stream: string): string | null {
  const prefix = `${eventsStreamName(cluster)}-`;
  return stream.startsWith(prefix) && stream.length > prefix.length ? stream.slice(prefix.length) : null;
}

/** Queue group of the `state` subscribers: NATS hands each request to one node. */
export const STATE_QUEUE = "regent-state";
