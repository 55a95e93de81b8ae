/**
 * The lease store: the only thing the election algorithm needs from the outside
 * world. It is deliberately tiny (like etcd `concurrency` sitting on a KV) so the
 * same algorithm runs on NATS JetStream KV in production and on an in-memory
 * store in deterministic tests. Both implementations pass one contract suite
 * (`test/lease/store-contract.ts`).
 *
 * Semantics every implementation must provide:
 * - `revision` is strictly increasing per store (per bucket), across all keys
 *   and across create, update and delete, and survives restarts.
 * - `create`, `update` and `delete` are compare-and-set; a lost race throws
 *   {@link ConflictError}. Anything where the outcome is unknown or the store is
 *   unreachable throws {@link StoreUnavailableError}; the write may or may not
 *   have happened.
 * - Nothing here expires keys. Safety never depends on server-side TTL.
 * - A lost bucket comes back with revisions above every earlier one and a
 *   genesis record (`GENESIS_KEY`, wire/names.ts): a key never written since reads as
 *   held, by a record no lease decoder accepts, at the genesis revision, and
 *   `update(key, value, genesisRevision)` takes it. Reserved keys
 *   (`_regent.…`) are never lease keys and never appear in `watch`/`keys`.
 */
import type { ConflictError, StoreUnavailableError } from "../errors.js";
import { RESERVED_KEY_PREFIX } from "../wire/names.js";

/** Options accepted by every store call. */
export interface CallOptions {
  /** Aborts the call; the call rejects with `AbortedError`. */
  signal?: AbortSignal;
}

/** One version of a key. */
export interface StoreEntry {
  key: string;
  /** Store-wide revision of the write that produced this entry. */
  revision: number;
  /** `put` for a value, `delete` for a delete or purge marker (value is empty). */
  operation: "put" | "delete";
  value: Uint8Array;
}

/** Options for {@link LeaseStore.watch}. */
export interface WatchOptions {
  /** Required: the watch ends (the iterator returns) when this fires. */
  signal: AbortSignal;
}

/**
 * A store that can also serve {@link LeaseStore.watch} by callback
 * (`watch-hub.ts`): the same entries in the same order, and its end, without
 * an async iterator per watcher. Elections use it when the store has it.
 */
export interface WatchSubscriber {
  subscribe(filter: string, sink: { entry(e: StoreEntry): void; end(error: unknown): void }): () => void;
}

/**
 * Compare-and-set key/value store holding lease records.
 *
 * Errors: {@link ConflictError} when a compare-and-set loses,
 * {@link StoreUnavailableError} for transient trouble.
 */
export interface LeaseStore {
  /** Human-readable name (bucket name) for logs. */
  readonly name: string;
  /**
   * Latest entry of `key`: `null` when it was never written, a delete marker
   * (`operation: "delete"`, with its revision) when it was deleted or purged.
   * Followers trust a never-written key at once, never a delete (docs/safety.md, R9).
   */
  get(key: string, opts?: CallOptions): Promise<StoreEntry | null>;
  /** Writes `key` only if it is absent (never written, deleted or purged). Returns the new revision. */
  create(key: string, value: Uint8Array, opts?: CallOptions): Promise<number>;
  /** Writes `key` only if its latest revision is `expectedRevision`. Returns the new revision. */
  update(key: string, value: Uint8Array, expectedRevision: number, opts?: CallOptions): Promise<number>;
  /** Deletes `key` only if its latest revision is `expectedRevision`. */
  delete(key: string, expectedRevision: number, opts?: CallOptions): Promise<void>;
  /**
   * Yields the current entry of every key matching `filter` (a key, or a NATS
   * style pattern with `*` and `>`), then every later change, until
   * `opts.signal` fires. A watch may miss updates (it is a hint, not a log):
   * callers reconcile with {@link LeaseStore.get}. Transport trouble ends the
   * iteration with a {@link StoreUnavailableError}.
   */
  watch(filter: string, opts: WatchOptions): AsyncIterable<StoreEntry>;
  /** Every key currently present (not deleted) matching `filter`. */
  keys(filter: string, opts?: CallOptions): Promise<string[]>;
}

/** True for keys regent keeps for itself (under `_regent.`, such as `GENESIS_KEY`); they are never lease keys. */
export function isReservedKey(key: string): boolean {
  return key.startsWith(RESERVED_KEY_PREFIX);
}

/** True when `key` matches a NATS-style subject `pattern` (`*` one token, `>` the rest). */
export function keyMatches(pattern: string, key: string): boolean {
  const p = pattern.split(".");
  const k = key.split(".");
  for (let i = 0; i < p.length; i++) {
    const tok = p[i];
    if (tok === ">") return k.length > i;
    if (i >= k.length) return false;
    if (tok !== "*" && tok !== k[i]) return false;
  }
  return p.length === k.length;
}

export type { ConflictError, StoreUnavailableError };
