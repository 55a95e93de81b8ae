/**
 * One bucket-wide watch per store, shared by every watcher in the process.
 *
 * Why: a NATS KV watch is a JetStream consumer. With a watch per election, N
 * elections in one process meant N consumer-create requests at start and N
 * consumers that the server matches every write of the stream against; at
 * 10,000 elections start-up never finished (BENCHMARKS.md, "Scale"). The hub
 * opens one `>` watch when the first watcher arrives, keeps the latest entry
 * of every key it has seen, and fans entries out:
 * - a watcher that joins a running watch first gets the cached current entry
 *   of every key matching its filter (the "current state, then changes"
 *   contract of {@link LeaseStore.watch}), then live entries;
 * - when the shared watch fails, every watcher of that run gets the error
 *   (callers re-watch and reconcile with `get`, as after any watch error) and
 *   the next watcher opens a fresh run with an empty cache;
 * - when the last watcher leaves, the watch lingers briefly (elections move
 *   between following and leading all the time) and then closes.
 *
 * A watch is a hint, never a log: nothing here is needed for safety, which
 * rests on compare-and-set. The cost is that every process watching a bucket
 * receives every write to it, which is what one consumer per key would have
 * delivered anyway when keys are watched by the same process.
 */
import { StoreUnavailableError } from "../errors.js";
import { keyMatches, type StoreEntry } from "./store.js";

/** Opens the underlying bucket-wide watch; it ends when `signal` fires. */
export type OpenWatch = (signal: AbortSignal) => AsyncIterable<StoreEntry>;

/**
 * A watcher called back instead of iterating: {@link WatchHub.subscribe}.
 * `entry` gets what an iterator would have yielded, in the same order;
 * `end` the error an iterator would have thrown. Neither is called after
 * the unsubscribe.
 */
export interface WatchSink {
  entry(e: StoreEntry): void;
  end(error: unknown): void;
}

interface Subscriber {
  filter: string;
  queue: StoreEntry[];
  head: number;
  error: unknown;
  ended: boolean;
  wake: (() => void) | null;
  /** A callback watcher; `queue` then holds only its replay until delivered (`replaying`). */
  sink?: WatchSink;
  replaying?: boolean;
}

/** One life of the shared watch: its cache and its subscribers. */
interface Run {
  ac: AbortController;
  cache: Map<string, StoreEntry>;
  exact: Map<string, Set<Subscriber>>;
  patterns: Set<Subscriber>;
  size: number;
  linger: NodeJS.Timeout | null;
}

const isPattern = (filter: string) => filter.includes("*") || filter.includes(">");

/** Shares one bucket-wide watch among many key or pattern watchers. */
export class WatchHub {
  private run: Run | null = null;

  /**
   * @param open opens the bucket-wide watch (filter `>`).
   * @param lingerMs how long the watch stays open with no watcher.
   */
  constructor(
    private readonly open: OpenWatch,
    private readonly lingerMs = 2_000,
  ) {}

  /** Number of watchers on the current run (for tests and metrics). */
  get watchers(): number {
    return this.run?.size ?? 0;
  }

  /** True while the shared watch is open. */
  get active(): boolean {
    return this.run !== null;
  }

  /** Current entry of every key matching `filter`, then every later change, until `signal` fires. */
  async *watch(filter: string, signal: AbortSignal): AsyncGenerator<StoreEntry> {
    if (signal.aborted) return;
    const run = this.run ?? this.start();
    const sub: Subscriber = { filter, queue: [], head: 0, error: undefined, ended: false, wake: null };
    this.attach(run, sub);
    const onAbort = () => sub.wake?.();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        while (sub.head < sub.queue.length) {
          if (signal.aborted) return;
          const e = sub.queue[sub.head++]!;
          if (sub.head === sub.queue.length) {
            sub.queue = [];
            sub.head = 0;
          }
          yield e;
        }
        if (signal.aborted) return;
        if (sub.ended) throw sub.error;
        await new Promise<void>((resolve) => (sub.wake = resolve));
        sub.wake = null;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.detach(run, sub);
    }
  }

  /**
   * {@link watch} without an iterator: at 10,000 watchers an async generator
   * and its promises per watcher, and per entry, were a measurable part of
   * the heap and of the CPU per renewal (BENCHMARKS.md, "Scale"). The cached
   * current entries come in a microtask, as an iterator's first would, and
   * entries arriving meanwhile after them. Returns the unsubscribe.
   */
  subscribe(filter: string, sink: WatchSink): () => void {
    const run = this.run ?? this.start();
    const sub: Subscriber = { filter, queue: [], head: 0, error: undefined, ended: false, wake: null, sink, replaying: true };
    this.attach(run, sub);
    queueMicrotask(() => {
      sub.replaying = false;
      const q = sub.queue;
      sub.queue = [];
      for (const e of q) {
        if (unsubscribed) return;
        sink.entry(e);
      }
      if (!unsubscribed && sub.ended) sink.end(sub.error);
    });
    let unsubscribed = false;
    return () => {
      if (unsubscribed) return;
      unsubscribed = true;
      sub.ended = true;
      this.detach(run, sub);
    };
  }

  private start(): Run {
    const run: Run = { ac: new AbortController(), cache: new Map(), exact: new Map(), patterns: new Set(), size: 0, linger: null };
    this.run = run;
    void this.pump(run);
    return run;
  }

  private async pump(run: Run): Promise<void> {
    let error: unknown;
    try {
      for await (const e of this.open(run.ac.signal)) {
        run.cache.set(e.key, e);
        const subs = run.exact.get(e.key);
        // A callback may (un)subscribe others of this key: deliver to those present now.
        if (subs) for (const s of subs.size === 1 ? subs : [...subs]) push(s, e);
        for (const s of run.patterns) if (keyMatches(s.filter, e.key)) push(s, e);
      }
    } catch (err) {
      error = err;
    }
    if (this.run === run) this.run = null;
    if (run.linger) clearTimeout(run.linger);
    if (run.ac.signal.aborted) return; // closed for lingering with nobody attached
    const end = error ?? new StoreUnavailableError("shared watch ended");
    for (const s of [...run.patterns, ...[...run.exact.values()].flatMap((set) => [...set])]) {
      if (s.ended) continue;
      s.ended = true;
      s.error = end;
      s.wake?.();
      if (s.sink && !s.replaying) s.sink.end(end);
    }
  }

  private attach(run: Run, sub: Subscriber): void {
    if (run.linger) {
      clearTimeout(run.linger);
      run.linger = null;
    }
    run.size++;
    if (isPattern(sub.filter)) {
      run.patterns.add(sub);
      for (const e of run.cache.values()) if (keyMatches(sub.filter, e.key)) sub.queue.push(e);
    } else {
      let set = run.exact.get(sub.filter);
      if (!set) run.exact.set(sub.filter, (set = new Set()));
      set.add(sub);
      const e = run.cache.get(sub.filter);
      if (e) sub.queue.push(e);
    }
  }

  private detach(run: Run, sub: Subscriber): void {
    const removed = isPattern(sub.filter) ? run.patterns.delete(sub) : removeExact(run, sub);
    if (!removed) return;
    run.size--;
    if (run.size > 0 || this.run !== run || run.ac.signal.aborted) return;
    run.linger = setTimeout(() => {
      if (run.size > 0) return;
      if (this.run === run) this.run = null;
      run.ac.abort();
    }, this.lingerMs);
    run.linger.unref();
  }
}

function removeExact(run: Run, sub: Subscriber): boolean {
  const set = run.exact.get(sub.filter);
  if (!set?.delete(sub)) return false;
  if (set.size === 0) run.exact.delete(sub.filter);
  return true;
}

function push(s: Subscriber, e: StoreEntry): void {
  // Ended, or subscribed by a callback during this very delivery: its replay holds `e` already.
  if (s.ended || s.queue[s.queue.length - 1] === e) return;
  if (s.sink && !s.replaying) return s.sink.entry(e);
  s.queue.push(e);
  s.wake?.();
}
