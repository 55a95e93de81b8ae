/**
 * A {@link LeaseStore} whose bucket is opened on first use. A quorum lease
 * spans every region's bucket (docs/quorum.md); a region that is down when a
 * node starts must not block or crash it, so other regions' buckets are bound
 * lazily: while the bucket cannot be opened every call fails like any
 * unreachable store (`StoreUnavailableError`), which the quorum rules already
 * treat as a failed call on that store, and a later call tries again.
 */
import { AbortedError, RegentError, StoreUnavailableError } from "../errors.js";
import { sharedOpener } from "../util/timers.js";
import type { CallOptions, LeaseStore, StoreEntry, WatchOptions } from "./store.js";

export interface LazyStoreOptions {
  /**
   * After a failed open, calls fail at once for this long before one of them
   * opens again (default 1000 ms): a dead region's open can take its whole
   * timeout, and the quorum election retries every store every few hundred ms.
   */
  retryAfterMs?: number;
  /** Monotonic now in ms (tests). */
  now?: () => number;
}

/** Opens `open` once (shared by concurrent callers), then forwards every call to the opened store. */
export class LazyLeaseStore implements LeaseStore {
  private store: LeaseStore | null = null;
  private readonly opener: (key: string, signal?: AbortSignal) => Promise<LeaseStore>;
  private lastFailure: { at: number; err: unknown } | null = null;
  private readonly retryAfterMs: number;
  private readonly now: () => number;
  /** Opens attempted (for tests and logs). */
  opens = 0;

  /**
   * @param name the bucket name (for logs; known before it is opened)
   * @param open opens the bucket; runs on its own deadline, not the caller's
   *   (a caller that gives up must not cancel an open a later caller can use)
   */
  constructor(
    readonly name: string,
    open: () => Promise<LeaseStore>,
    opts: LazyStoreOptions = {},
  ) {
    this.retryAfterMs = opts.retryAfterMs ?? 1_000;
    this.now = opts.now ?? (() => performance.now());
    this.opener = sharedOpener(async () => {
      this.opens++;
      try {
        const s = await open();
        this.store = s;
        this.lastFailure = null;
        return s;
      } catch (err) {
        this.lastFailure = { at: this.now(), err };
        throw err;
      }
    });
  }

  /** True once the bucket has been opened. */
  isOpen(): boolean {
    return this.store !== null;
  }

  /** The opened store, opening it first; rejects with `StoreUnavailableError` (or `AbortedError` when `signal` fires). */
  async resolve(signal?: AbortSignal): Promise<LeaseStore> {
    if (this.store) return this.store;
    if (signal?.aborted) throw new AbortedError("aborted", { cause: signal.reason });
    const f = this.lastFailure;
    if (f && this.now() - f.at < this.retryAfterMs) throw unavailable(this.name, f.err);
    try {
      return await this.opener(this.name, signal);
    } catch (err) {
      if (err instanceof AbortedError && signal?.aborted) throw err;
      throw unavailable(this.name, err);
    }
  }

  async get(key: string, opts?: CallOptions): Promise<StoreEntry | null> {
    return (await this.resolve(opts?.signal)).get(key, opts);
  }

  async create(key: string, value: Uint8Array, opts?: CallOptions): Promise<number> {
    return (await this.resolve(opts?.signal)).create(key, value, opts);
  }

  async update(key: string, value: Uint8Array, expectedRevision: number, opts?: CallOptions): Promise<number> {
    return (await this.resolve(opts?.signal)).update(key, value, expectedRevision, opts);
  }

  async delete(key: string, expectedRevision: number, opts?: CallOptions): Promise<void> {
    return (await this.resolve(opts?.signal)).delete(key, expectedRevision, opts);
  }

  async keys(filter: string, opts?: CallOptions): Promise<string[]> {
    return (await this.resolve(opts?.signal)).keys(filter, opts);
  }

  /** Ends with `StoreUnavailableError` while the bucket cannot be opened (the caller re-watches later). */
  async *watch(filter: string, opts: WatchOptions): AsyncIterable<StoreEntry> {
    let store: LeaseStore;
    try {
      store = await this.resolve(opts.signal);
    } catch (err) {
      // A watch ends quietly when its own signal fires.
      if (err instanceof AbortedError && opts.signal.aborted) return;
      throw err;
    }
    yield* store.watch(filter, opts);
  }
}

function unavailable(bucket: string, err: unknown): RegentError {
  if (err instanceof StoreUnavailableError) return err;
  return new StoreUnavailableError(`bucket ${bucket} cannot be opened: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
