/**
 * `regent elect --trace-handover`: per-hop timestamps of a handover, for the
 * comparison benchmark's hop table (BENCHMARKS.md). Wraps the election's
 * LeaseStore and stamps, on the shared CLOCK_MONOTONIC, when each write is
 * sent and answered and when each watch entry reaches the election. The lines
 * are buffered and printed a few milliseconds later, off the measured path.
 * Without the flag nothing is wrapped: production pays nothing.
 */
import type { CallOptions, LeaseStore, StoreEntry, WatchOptions, WatchSubscriber } from "../lease/store.js";
import { monotonicNowMs } from "../util/clock.js";

/** One hop line: `{type: "hop", hop, t, …}` (plus `id` when printed). */
export interface Hop {
  hop: "write-sent" | "write-acked" | "write-failed" | "get-sent" | "get-done" | "watch-entry" | "resign-received";
  t: number;
  op?: "create" | "update";
  /** Revision written against (update) or obtained (acked) or delivered (watch). */
  revision?: number;
  operation?: StoreEntry["operation"];
}

/** Collects hops and hands them to `flush` in batches, `delayMs` after the first unflushed one. */
export class HopTrace {
  private buf: Hop[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly flush: (hops: Hop[]) => void,
    private readonly delayMs = 20,
  ) {}

  stamp(h: Omit<Hop, "t">): void {
    this.buf.push({ ...h, t: monotonicNowMs() } as Hop);
    if (this.timer) return;
    this.timer = setTimeout(() => this.drain(), this.delayMs);
    this.timer.unref();
  }

  drain(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const b = this.buf;
    this.buf = [];
    if (b.length) this.flush(b);
  }

  /** `store` with its writes, reads and watch deliveries stamped. */
  wrap(store: LeaseStore): LeaseStore {
    const timed = <T>(sent: Omit<Hop, "t">, call: () => Promise<T>, done: (v: T) => Omit<Hop, "t">, failed: Hop["hop"]): Promise<T> => {
      this.stamp(sent);
      return call().then(
        (v) => (this.stamp(done(v)), v),
        (err: unknown) => {
          this.stamp({ hop: failed, ...(sent.op ? { op: sent.op } : {}) });
          throw err;
        },
      );
    };
    const trace = this;
    // Keep the callback watch when the store has one (NatsLeaseStore): elections
    // use it over `watch`, so the traced handover runs the production path.
    const sub = (store as Partial<WatchSubscriber>).subscribe?.bind(store);
    const subscribe: Partial<WatchSubscriber> = sub
      ? {
          subscribe: (filter, sink) =>
            sub(filter, {
              entry: (e) => (trace.stamp({ hop: "watch-entry", revision: e.revision, operation: e.operation }), sink.entry(e)),
              end: (err) => sink.end(err),
            }),
        }
      : {};
    return {
      ...subscribe,
      name: store.name,
      get: (key: string, opts?: CallOptions) =>
        timed({ hop: "get-sent" }, () => store.get(key, opts), (e) => ({ hop: "get-done", ...(e ? { revision: e.revision, operation: e.operation } : {}) }), "get-done"),
      create: (key: string, value: Uint8Array, opts?: CallOptions) =>
        timed({ hop: "write-sent", op: "create", revision: 0 }, () => store.create(key, value, opts), (r) => ({ hop: "write-acked", op: "create", revision: r }), "write-failed"),
      update: (key: string, value: Uint8Array, rev: number, opts?: CallOptions) =>
        timed({ hop: "write-sent", op: "update", revision: rev }, () => store.update(key, value, rev, opts), (r) => ({ hop: "write-acked", op: "update", revision: r }), "write-failed"),
      delete: (key: string, rev: number, opts?: CallOptions) => store.delete(key, rev, opts),
      keys: (filter: string, opts?: CallOptions) => store.keys(filter, opts),
      watch(filter: string, opts: WatchOptions): AsyncIterable<StoreEntry> {
        const inner = store.watch(filter, opts);
        return {
          [Symbol.asyncIterator]() {
            const it = inner[Symbol.asyncIterator]();
            return {
              next: () =>
                it.next().then((r) => {
                  if (!r.done) trace.stamp({ hop: "watch-entry", revision: r.value.revision, operation: r.value.operation });
                  return r;
                }),
              return: (v?: unknown) => it.return?.(v) ?? Promise.resolve({ done: true as const, value: undefined }),
            };
          },
        };
      },
    };
  }
}
