/**
 * A per-participant view of a shared store whose link can be cut, modelling a
 * partition or a crash of the participant's connection: while `down`, calls
 * reject with StoreUnavailableError and open watches end with it. While
 * `hanging`, calls never answer (a region whose servers are dead: requests
 * time out) until their own signal aborts.
 */
import { StoreUnavailableError } from "../../src/errors.js";
import type { CallOptions, LeaseStore, StoreEntry, WatchOptions } from "../../src/lease/store.js";

export class FaultyStore implements LeaseStore {
  readonly name: string;
  private isDown = false;
  /** Calls wait for their signal instead of answering. */
  hanging = false;
  private cuts = new Set<AbortController>();
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

  private guard(op: string): void {
    this.calls[op] = (this.calls[op] ?? 0) + 1;
    if (this.isDown) throw new StoreUnavailableError(`${this.name}: link down (injected)`);
  }

  /** Never settles unless `signal` aborts: an unanswered request. */
  private hang(signal?: AbortSignal): Promise<never> {
    return new Promise((_, reject) => {
      const fail = () => reject(new StoreUnavailableError(`${this.name}: no answer (injected)`));
      if (signal?.aborted) fail();
      signal?.addEventListener("abort", fail, { once: true });
    });
  }

  async get(key: string, opts?: CallOptions): Promise<StoreEntry | null> {
    this.guard("get");
    if (this.hanging) return this.hang(opts?.signal);
    return this.inner.get(key, opts);
  }
  async create(key: string, value: Uint8Array, opts?: CallOptions): Promise<number> {
    this.guard("create");
    return this.inner.create(key, value, opts);
  }
  async update(key: string, value: Uint8Array, rev: number, opts?: CallOptions): Promise<number> {
    this.guard("update");
    return this.inner.update(key, value, rev, opts);
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
        yield e;
      }
      if (cut.signal.aborted && !opts.signal.aborted) throw new StoreUnavailableError(`${this.name}: link down (injected)`);
    } finally {
      this.cuts.delete(cut);
    }
  }
}
