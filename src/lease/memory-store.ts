/**
 * In-memory {@link LeaseStore} for deterministic unit and simulation tests.
 * NOT for production: nothing is persisted and there is no replication.
 *
 * It mirrors what {@link NatsLeaseStore} does on nats-server 2.9 (both pass
 * `test/lease/store-contract.ts`):
 * - one store-wide revision counter, like a JetStream stream sequence;
 * - a delete leaves a marker with its own revision (history 1 keeps the
 *   marker), so `watch` yields markers of deleted keys in its initial batch,
 *   exactly like a NATS KV watch with the default "last value" delivery;
 * - `update`/`delete` compare against the key's latest revision, which may be
 *   a delete marker's (JetStream's expected-last-subject-sequence check does
 *   the same);
 * - {@link MemoryLeaseStore.loseBucket} models a bucket deleted and recovered
 *   by `NatsLeaseStore` (`bucket-epoch.ts`): every key gone, revisions carry
 *   on above the old ones, and a genesis record under which never-written
 *   keys read as held at the genesis revision (take them by `update` on it).
 *
 * Deterministic: no timers, no randomness. All state changes happen
 * synchronously inside each call; the returned promises only carry results.
 * Watches are fed through a small async queue, so an event is delivered on a
 * later microtask, never re-entrantly inside the write that caused it.
 */
import { ConflictError, StoreUnavailableError, throwIfAborted } from "../errors.js";
import { encodeGenesis } from "../wire/genesis-record.js";
import { GENESIS_KEY } from "../wire/names.js";
import { assertLeaseKey, assertValidFilter, assertValidKey, assertValidRevision } from "./keys.js";
import { isReservedKey, keyMatches, type CallOptions, type LeaseStore, type StoreEntry, type WatchOptions } from "./store.js";

type QueueItem = { entry: StoreEntry } | { end: true; error?: unknown };

/** Unbounded single-consumer async queue. */
class AsyncQueue {
  private items: QueueItem[] = [];
  private wake: (() => void) | undefined;
  private ended = false;

  push(entry: StoreEntry): void {
    if (this.ended) return;
    this.items.push({ entry });
    this.notify();
  }

  /** Ends the queue; items already queued are still delivered before the end (or error). */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.items.push(error === undefined ? { end: true } : { end: true, error });
    this.notify();
  }

  /** Ends at once, dropping anything queued (used on abort: the caller is no longer interested). */
  abort(): void {
    this.ended = true;
    this.items = [{ end: true }];
    this.notify();
  }

  async next(): Promise<QueueItem> {
    while (this.items.length === 0) {
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    return this.items.shift()!;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

interface Watcher {
  filter: string;
  queue: AsyncQueue;
}

function copy(e: StoreEntry): StoreEntry {
  return { key: e.key, revision: e.revision, operation: e.operation, value: new Uint8Array(e.value) };
}

/** Deterministic in-memory lease store with fault injection. */
export class MemoryLeaseStore implements LeaseStore {
  readonly name: string;
  private revision = 0;
  /** Latest entry per key, delete markers included (history 1). */
  private readonly latest = new Map<string, StoreEntry>();
  private readonly watchers = new Set<Watcher>();
  private isAvailable = true;
  private restartCount = 0;
  /** What each recent write replaced, newest last, so a simulated restart can lose it. */
  private readonly undo: { key: string; prev: StoreEntry | undefined }[] = [];

  constructor(name = "memory") {
    this.name = name;
  }

  /** Highest revision written so far (0 when empty). */
  get lastRevision(): number {
    return this.revision;
  }

  /** Whether calls currently succeed. */
  get available(): boolean {
    return this.isAvailable;
  }

  /**
   * Fault injection. `false` makes every call reject with
   * {@link StoreUnavailableError} and ends every open watch with it (entries
   * already queued are delivered first); `true` heals. Data is kept.
   */
  setAvailable(available: boolean): void {
    this.isAvailable = available;
    if (!available) {
      for (const w of this.watchers) w.queue.end(new StoreUnavailableError(`${this.name}: store unavailable (injected)`));
      this.watchers.clear();
    }
  }

  /**
   * Fault injection: a restart that loses the newest `count` writes (all of
   * them: the bucket is recreated). The revision counter goes back with them,
   * as a JetStream stream's sequence does, so later writes reuse revisions.
   * Open watches end with an error, as a restart drops connections.
   */
  loseNewestWrites(count: number): number {
    this.restartCount++;
    let lost = 0;
    for (; lost < count && this.undo.length > 0; lost++) {
      const { key, prev } = this.undo.pop()!;
      if (prev) this.latest.set(key, prev);
      else this.latest.delete(key);
      this.revision--;
    }
    if (count >= Number.MAX_SAFE_INTEGER || this.undo.length === 0) {
      this.latest.clear();
      this.revision = 0;
      this.undo.length = 0;
    }
    for (const w of this.watchers) w.queue.end(new StoreUnavailableError(`${this.name}: store restarted (injected)`));
    this.watchers.clear();
    return lost;
  }

  /** How many simulated restarts happened (a client's connection does not survive one). */
  get restarts(): number {
    return this.restartCount;
  }

  /** The latest entry of `key`, delete markers included, synchronously and regardless of faults (fault planning only). */
  peek(key: string): StoreEntry | null {
    const e = this.latest.get(key);
    return e ? copy(e) : null;
  }

  /**
   * Fault injection: an unconditional write (`put`, or a `delete` marker),
   * as any client with publish rights on a bucket's subjects can make with
   * no expected-sequence header. Ignores availability. Returns the revision.
   */
  forge(key: string, operation: StoreEntry["operation"], value: Uint8Array = new Uint8Array()): number {
    assertValidKey(key);
    return this.write(key, operation, operation === "delete" ? new Uint8Array() : value);
  }

  /** Number of open watches; handy to assert that aborted watches were cleaned up. */
  get watcherCount(): number {
    return this.watchers.size;
  }

  private check(opts?: CallOptions): void {
    throwIfAborted(opts?.signal);
    if (!this.isAvailable) throw new StoreUnavailableError(`${this.name}: store unavailable (injected)`);
  }

  /** Runs a synchronous operation and turns its result or exception into a promise. */
  private run<T>(opts: CallOptions | undefined, fn: () => T): Promise<T> {
    try {
      this.check(opts);
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Fault injection: the bucket is deleted and recovered as `NatsLeaseStore`
   * recovers it. Every key is gone; open watches end with a
   * {@link StoreUnavailableError} (callers re-watch); revisions continue above
   * every earlier one; and a genesis record is written, under which a key
   * that was never written reads as held (by nobody decodable) at the genesis
   * revision. Returns the genesis revision (the last revision without one).
   *
   * `genesis: false` models an unsafe recovery (mutation tests): revisions
   * still rise, but never-written keys read as vacant and are taken at once.
   */
  loseBucket(opts: { genesis?: boolean } = {}): number {
    this.latest.clear();
    for (const w of this.watchers) w.queue.end(new StoreUnavailableError(`${this.name}: bucket lost (injected)`));
    this.watchers.clear();
    return opts.genesis === false ? this.revision : this.write(GENESIS_KEY, "put", encodeGenesis());
  }

  private write(key: string, operation: StoreEntry["operation"], value: Uint8Array): number {
    const entry: StoreEntry = { key, revision: ++this.revision, operation, value: new Uint8Array(value) };
    this.undo.push({ key, prev: this.latest.get(key) });
    if (this.undo.length > 1000) this.undo.shift();
    this.latest.set(key, entry);
    if (!isReservedKey(key)) for (const w of this.watchers) if (keyMatches(w.filter, key)) w.queue.push(copy(entry));
    return entry.revision;
  }

  /** The genesis record, when the bucket was lost and recovered. */
  private genesis(): StoreEntry | undefined {
    return this.latest.get(GENESIS_KEY);
  }

  get(key: string, opts?: CallOptions): Promise<StoreEntry | null> {
    return this.run(opts, () => {
      assertLeaseKey(key);
      const e = this.latest.get(key);
      // A delete marker is returned as such: a deleted key is not a never-written one.
      if (e) return copy(e);
      // Never written: in a recovered bucket, held at the genesis revision.
      const g = this.genesis();
      return g ? { key, revision: g.revision, operation: "put", value: new Uint8Array(g.value) } : null;
    });
  }

  create(key: string, value: Uint8Array, opts?: CallOptions): Promise<number> {
    return this.run(opts, () => {
      assertLeaseKey(key);
      if (this.latest.get(key)?.operation === "put") throw new ConflictError(key, 0);
      return this.write(key, "put", value);
    });
  }

  update(key: string, value: Uint8Array, expectedRevision: number, opts?: CallOptions): Promise<number> {
    return this.run(opts, () => {
      assertLeaseKey(key);
      assertValidRevision(expectedRevision);
      // A never-written key is at the genesis revision, if there is one.
      const current = this.latest.get(key)?.revision ?? this.genesis()?.revision;
      if (current !== expectedRevision) throw new ConflictError(key, expectedRevision);
      return this.write(key, "put", value);
    });
  }

  delete(key: string, expectedRevision: number, opts?: CallOptions): Promise<void> {
    return this.run(opts, () => {
      assertLeaseKey(key);
      assertValidRevision(expectedRevision);
      if (this.latest.get(key)?.revision !== expectedRevision) throw new ConflictError(key, expectedRevision);
      this.write(key, "delete", new Uint8Array());
    });
  }

  keys(filter: string, opts?: CallOptions): Promise<string[]> {
    return this.run(opts, () => {
      assertValidFilter(filter);
      return this.snapshot(filter)
        .filter((e) => e.operation === "put")
        .map((e) => e.key);
    });
  }

  /** Latest entry of every matching key, delete markers included, in revision order (stream order on NATS). */
  private snapshot(filter: string): StoreEntry[] {
    return [...this.latest.values()].filter((e) => !isReservedKey(e.key) && keyMatches(filter, e.key)).sort((a, b) => a.revision - b.revision);
  }

  watch(filter: string, opts: WatchOptions): AsyncIterable<StoreEntry> {
    return this.watchGen(filter, opts.signal);
  }

  private async *watchGen(filter: string, signal: AbortSignal): AsyncGenerator<StoreEntry> {
    if (signal.aborted) return;
    assertValidFilter(filter);
    if (!this.isAvailable) throw new StoreUnavailableError(`${this.name}: store unavailable (injected)`);
    // Snapshot and registration happen in the same synchronous step, so no
    // write can fall between "initial state" and "changes".
    const queue = new AsyncQueue();
    for (const e of this.snapshot(filter)) queue.push(copy(e));
    const watcher: Watcher = { filter, queue };
    this.watchers.add(watcher);
    const onAbort = () => queue.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        const item = await queue.next();
        if (signal.aborted) return;
        if ("end" in item) {
          if (item.error !== undefined) throw item.error;
          return;
        }
        yield item.entry;
      }
    } finally {
      this.watchers.delete(watcher);
      signal.removeEventListener("abort", onAbort);
    }
  }
}
