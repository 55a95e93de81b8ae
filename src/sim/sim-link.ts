/**
 * One process's connection to one in-memory store, with the faults a real
 * NATS deployment shows: latency on the way in and on the way back (so
 * concurrent writes are applied in an order the scheduler picks, as a
 * linearizable store may), lost replies (the write happened, the caller
 * does not know), failures, outages of the store (a stream-leader election),
 * partitions of the process's region, and watches that drop events.
 */
import { AbortedError, ConflictError, StoreUnavailableError, throwIfAborted } from "../errors.js";
import type { MemoryLeaseStore } from "../lease/memory-store.js";
import type { CallOptions, LeaseStore, StoreEntry, WatchOptions } from "../lease/store.js";
import type { ProcessClock } from "./process-clock.js";
import type { SimScheduler } from "./scheduler.js";
import type { StaleReads } from "./stale-reads.js";

/** Shared fault state of the simulated network. */
export interface SimNetwork {
  sched: SimScheduler;
  random: () => number;
  /** Store names currently unavailable (outage). */
  storesDown: Set<string>;
  /** Regions currently cut off from every store but their own… or from all (see `isolated`). */
  partitioned: Set<string>;
  /** Regions or processes whose links are degraded: one-way latency of 100–600 ms. */
  slow: Set<string>;
  /** Processes cut off from every store (a stuck connection, a NIC failure). */
  isolated: Set<string>;
  /** Processes cut off from the global stores only (every store named `global…`: the global and scope leases' quorum). */
  globalCut: Set<string>;
  /** Probability that an operation fails outright, and that a reply is lost after the write applied. */
  failRate: number;
  lostReplyRate: number;
  /** Probability that a reply never comes: the caller's own deadline (its signal) is all that ends the call (absent: none). */
  hangRate?: number;
  /** Probability that a watch event is dropped. */
  watchDropRate: number;
  /** Request timeout of the client (a lost reply or an outage costs this long). */
  timeoutMs: number;
  /** Called by the world whenever a fault starts or ends: open watches re-check reachability. */
  watchers: Set<() => void>;
  /** Lagging stream leaders after an outage: stale gets, spurious conflicts (absent: none). */
  stale?: StaleReads;
}

export class SimLink implements LeaseStore {
  readonly name: string;
  /** Restarts of the store this connection has seen: a restart resets the connection, so the next call fails. */
  private seenRestarts: number;

  constructor(
    private readonly inner: MemoryLeaseStore,
    private readonly net: SimNetwork,
    private readonly proc: ProcessClock,
    /** Region of the process; a partitioned region reaches no store. */
    private readonly region: string,
    private readonly procId: string,
  ) {
    this.name = inner.name;
    this.seenRestarts = inner.restarts;
  }

  /** True once after each store restart: the caller's connection was reset (its call fails). */
  private connectionReset(): boolean {
    if (this.inner.restarts === this.seenRestarts) return false;
    this.seenRestarts = this.inner.restarts;
    return true;
  }

  private reachable(): boolean {
    return !this.net.storesDown.has(this.inner.name) && !this.net.partitioned.has(this.region) && !this.net.isolated.has(this.procId) &&
      !(this.inner.name.startsWith("global") && this.net.globalCut.has(this.procId));
  }

  /** Simulated one-way latency: mostly sub-millisecond, sometimes slow. */
  private latency(): number {
    if (this.net.slow.has(this.region) || this.net.slow.has(this.procId)) return 100 + this.net.random() * 500;
    const r = this.net.random();
    if (r < 0.9) return 0.1 + this.net.random() * 1.5;
    if (r < 0.99) return 2 + this.net.random() * 30;
    return 50 + this.net.random() * 400;
  }

  private wait(ms: number): Promise<void> {
    return new Promise((r) => this.net.sched.setTimeout(() => r(), ms));
  }

  /** Runs `apply` at the linearization point, after request latency, unless faults intervene. */
  private op<T>(opts: CallOptions | undefined, apply: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      throwIfAborted(opts?.signal);
      await this.wait(this.latency());
      if (!this.reachable() || this.connectionReset() || this.net.random() < this.net.failRate) {
        await this.wait(this.net.random() < 0.5 ? 1 : this.net.timeoutMs);
        throw new StoreUnavailableError(`${this.name}: unavailable (simulated)`);
      }
      const result = await apply(); // may throw ConflictError: a real answer
      if (this.net.hangRate && this.net.random() < this.net.hangRate) await hangUntilAborted(opts?.signal);
      await this.wait(this.latency());
      if (!this.reachable() || this.net.random() < this.net.lostReplyRate) {
        await this.wait(this.net.timeoutMs);
        throw new StoreUnavailableError(`${this.name}: reply lost (simulated)`);
      }
      return result;
    };
    return this.proc.gate(run());
  }

  get(key: string, opts?: CallOptions): Promise<StoreEntry | null> {
    return this.op(opts, async () => {
      const current = await this.inner.get(key);
      const stale = this.net.stale?.staleGet(this.inner.name, key, current);
      return stale === undefined ? current : stale;
    });
  }
  create(key: string, value: Uint8Array, opts?: CallOptions): Promise<number> {
    return this.write(opts, key, null, value, () => this.inner.create(key, value));
  }
  update(key: string, value: Uint8Array, expectedRevision: number, opts?: CallOptions): Promise<number> {
    return this.write(opts, key, expectedRevision, value, () => this.inner.update(key, value, expectedRevision));
  }
  delete(key: string, expectedRevision: number, opts?: CallOptions): Promise<void> {
    return this.write(opts, key, expectedRevision, null, () => this.inner.delete(key, expectedRevision));
  }
  /**
   * A conditional write at its linearization point: refused when a lagging
   * leader has not seen the expected revision, else applied and remembered
   * (the memory store applies synchronously, so `lastRevision` right after
   * the call is this write's revision).
   */
  private write<T>(opts: CallOptions | undefined, key: string, expected: number | null, value: Uint8Array | null, apply: () => Promise<T>): Promise<T> {
    return this.op(opts, async () => {
      const stale = this.net.stale;
      if (stale && expected !== null && stale.spuriousConflict(this.inner.name, key, expected)) throw new ConflictError(key, expected);
      const p = apply();
      const revision = this.inner.lastRevision;
      const out = await p;
      stale?.remember(this.inner.name, { key, revision, operation: value ? "put" : "delete", value: value ? new Uint8Array(value) : new Uint8Array() });
      return out;
    });
  }
  keys(filter: string, opts?: CallOptions): Promise<string[]> {
    return this.op(opts, () => this.inner.keys(filter));
  }

  /** Watch events arrive late, sometimes not at all; the watch breaks when the store is unreachable. */
  async *watch(filter: string, opts: WatchOptions): AsyncGenerator<StoreEntry> {
    if (!this.reachable()) {
      await this.proc.gate(this.wait(this.net.timeoutMs));
      throw new StoreUnavailableError(`${this.name}: watch unavailable (simulated)`);
    }
    const queue: StoreEntry[] = [];
    let wake: (() => void) | null = null;
    let broken = false;
    const inner = new AbortController();
    const onAbort = () => inner.abort();
    opts.signal.addEventListener("abort", onAbort, { once: true });
    const pump = (async () => {
      try {
        for await (const e of this.inner.watch(filter, { signal: inner.signal })) {
          const dropped = this.net.random() < this.net.watchDropRate;
          this.net.sched.setTimeout(() => {
            if (!this.reachable()) broken = true;
            else if (!dropped) queue.push(e);
            this.proc.run(() => wake?.());
          }, this.latency());
        }
      } catch {
        broken = true;
        this.proc.run(() => wake?.());
      }
    })();
    try {
      for (;;) {
        while (queue.length && !opts.signal.aborted) yield queue.shift()!;
        if (opts.signal.aborted) return;
        if (broken || !this.reachable()) throw new StoreUnavailableError(`${this.name}: watch broken (simulated)`);
        const kick = () => this.proc.run(() => wake?.());
        this.net.watchers.add(kick);
        await new Promise<void>((r) => (wake = r));
        this.net.watchers.delete(kick);
        wake = null;
      }
    } finally {
      inner.abort();
      opts.signal.removeEventListener("abort", onAbort);
      await pump;
    }
  }
}

/** Never settles unless `signal` aborts; then rejects with AbortedError (a reply that never comes). */
export function hangUntilAborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise<never>((_, reject) => {
    if (!signal) return;
    const onAbort = () => reject(new AbortedError("aborted", { cause: signal.reason }));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
