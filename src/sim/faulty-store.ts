/**
 * The scripted fault layer: a per-participant view of a shared store whose
 * link can be cut, for the SimulatedClock unit tests that need one fault at
 * an exact point (the seeded simulation draws the same kinds of fault at
 * random through {@link SimLink}, and the store itself fails through
 * MemoryLeaseStore's `setAvailable`, `loseNewestWrites` and `loseBucket`).
 * While `down`, calls reject with StoreUnavailableError and open watches end
 * with it. While `hanging`, every call never answers (a region whose servers
 * are dead: requests time out) until its own signal aborts; `hangNext` does
 * that to one chosen call (a lost request or ack), `loseReplyNext` to one
 * call's reply after the write applied (as SimLink's hang and lost reply).
 */
import { StoreUnavailableError } from "../errors.js";
import type { CallOptions, LeaseStore, StoreEntry, WatchOptions } from "../lease/store.js";
import { hangUntilAborted } from "./sim-link.js";

export class FaultyStore implements LeaseStore {
  readonly name: string;
  private isDown = false;
  /** Calls wait for their signal instead of answering. */
  hanging = false;
  private cuts = new Set<AbortController>();
  private hangs: ((op: string, key: string) => boolean)[] = [];
  private lostReplies: ((op: string, key: string) => boolean)[] = [];
  private watchDrops: ((e: StoreEntry) => boolean)[] = [];
  private befores: { pred: (op: string, key: string) => boolean; fn: () => unknown }[] = [];
  /** Count of calls made through this view, by operation. */
  readonly calls: Record<string, number> = {};

  constructor(private readonly inner: LeaseStore) {
    this.name = `${inner.name}(view)`;
  }

  get down(): boolean {
    return this.isDown;
  }

  setDown(down: boolean): void {
    this.isDown = down;
    if (down) for (const c of this.cuts) c.abort();
  }

  /** The next call for which `pred` holds never answers: it rejects only when its signal aborts. */
  hangNext(pred: (op: string, key: string) => boolean): void {
    this.hangs.push(pred);
  }

  /** The next call for which `pred` holds is carried out, but its reply is lost: it rejects only when its signal aborts. */
  loseReplyNext(pred: (op: string, key: string) => boolean): void {
    this.lostReplies.push(pred);
  }

  /** The next watch entry for which `pred` holds is not delivered (a watch is a hint and may miss updates). */
  dropWatchNext(pred: (e: StoreEntry) => boolean): void {
    this.watchDrops.push(pred);
  }

  /** Before the next call for which `pred` holds reaches the store, `fn` runs (and is awaited): to order a fault exactly. */
  beforeNext(pred: (op: string, key: string) => boolean, fn: () => unknown): void {
    this.befores.push({ pred, fn });
  }

  /** The planned `beforeNext` hook of this call, if any (consumed). Calls without one take no extra tick. */
  private before(op: string, key: string): (() => unknown) | undefined {
    const i = this.befores.findIndex((b) => b.pred(op, key));
    return i < 0 ? undefined : this.befores.splice(i, 1)[0]!.fn;
  }

  /** Runs `call`; if a lost reply was planned for it, the result is dropped and the caller waits for its signal. */
  private async maybeLoseReply<T>(op: string, key: string, opts: CallOptions | undefined, call: () => Promise<T>): Promise<T> {
    const i = this.lostReplies.findIndex((p) => p(op, key));
    if (i < 0) return call();
    this.lostReplies.splice(i, 1);
    await call();
    return hangUntilAborted(opts?.signal);
  }

  private guard(op: string): void {
    this.calls[op] = (this.calls[op] ?? 0) + 1;
    if (this.isDown) throw new StoreUnavailableError(`${this.name}: link down (injected)`);
  }

  /** A pending hang for this call (consumed), or `hanging`: a promise that settles only on abort. */
  private hung(op: string, key: string, opts?: CallOptions): Promise<never> | null {
    const i = this.hangs.findIndex((p) => p(op, key));
    if (i < 0 && !this.hanging) return null;
    if (i >= 0) this.hangs.splice(i, 1);
    return hangUntilAborted(opts?.signal);
  }

  async get(key: string, opts?: CallOptions): Promise<StoreEntry | null> {
    this.guard("get");
    const hook = this.before("get", key);
    if (hook) await hook();
    return this.hung("get", key, opts) ?? this.inner.get(key, opts);
  }
  async create(key: string, value: Uint8Array, opts?: CallOptions): Promise<number> {
    this.guard("create");
    const hook = this.before("create", key);
    if (hook) await hook();
    return this.hung("create", key, opts) ?? this.inner.create(key, value, opts);
  }
  async update(key: string, value: Uint8Array, rev: number, opts?: CallOptions): Promise<number> {
    this.guard("update");
    const hook = this.before("update", key);
    if (hook) await hook();
    return this.hung("update", key, opts) ?? this.maybeLoseReply("update", key, opts, () => this.inner.update(key, value, rev, opts));
  }
  async delete(key: string, rev: number, opts?: CallOptions): Promise<void> {
    this.guard("delete");
    return this.inner.delete(key, rev, opts);
  }
  async keys(filter: string, opts?: CallOptions): Promise<string[]> {
    this.guard("keys");
    return this.inner.keys(filter, opts);
  }
  async *watch(filter: string, opts: WatchOptions): AsyncGenerator<StoreEntry> {
    this.guard("watch");
    const cut = new AbortController();
    this.cuts.add(cut);
    const both = AbortSignal.any([opts.signal, cut.signal]);
    try {
      for await (const e of this.inner.watch(filter, { signal: both })) {
        if (this.isDown) break;
        const drop = this.watchDrops.findIndex((p) => p(e));
        if (drop >= 0) {
          this.watchDrops.splice(drop, 1);
          continue;
        }
        yield e;
      }
      if (cut.signal.aborted && !opts.signal.aborted) throw new StoreUnavailableError(`${this.name}: link down (injected)`);
    } finally {
      this.cuts.delete(cut);
    }
  }
}
