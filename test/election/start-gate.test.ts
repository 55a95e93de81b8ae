import { afterEach, describe, expect, it, vi } from "vitest";
import { startElection, type Election } from "../../src/election/election.js";
import { START_BATCH, StartGate } from "../../src/election/start-gate.js";
import { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import type { CallOptions, StoreEntry } from "../../src/lease/store.js";
import { StoreUnavailableError } from "../../src/errors.js";

/** A memory store whose reads wait until `open()`, counting the reads asked for. */
class HeldReads extends MemoryLeaseStore {
  reads = 0;
  private release!: () => void;
  private readonly opened = new Promise<void>((r) => (this.release = r));
  open(): void {
    this.release();
  }
  override async get(key: string, opts?: CallOptions): Promise<StoreEntry | null> {
    this.reads++;
    await this.opened;
    return super.get(key, opts);
  }
}

/** A memory store whose reads fail until `heal()`, recording the keys read. */
class FailingReads extends MemoryLeaseStore {
  readonly keysRead = new Set<string>();
  failures = 0;
  private down = true;
  heal(): void {
    this.down = false;
  }
  override async get(key: string, opts?: CallOptions): Promise<StoreEntry | null> {
    this.keysRead.add(key);
    if (this.down) {
      this.failures++;
      throw new StoreUnavailableError("down (test)");
    }
    return super.get(key, opts);
  }
}

let elections: Election[] = [];
afterEach(async () => {
  await Promise.all(elections.map((e) => e.stop()));
  elections = [];
});

describe("start gate", () => {
  it("admits `max` at a time, in order; a slot passes on when done; `now` starts out of turn", () => {
    const g = new StartGate(2);
    const started: number[] = [];
    const a = [0, 1, 2, 3, 4].map((i) => g.enter(() => started.push(i)));
    expect(started).toEqual([0, 1]);
    a[0]!.done();
    a[0]!.done(); // idempotent: frees one slot only
    expect(started).toEqual([0, 1, 2]);
    a[4]!.now(); // a stop before its turn
    expect(started).toEqual([0, 1, 2, 4]);
    a[1]!.done();
    a[2]!.done();
    expect(started).toEqual([0, 1, 2, 4, 3]); // 4 is not started twice
    a[4]!.done(); // started out of turn: held no slot
    a[3]!.done();
    g.enter(() => started.push(5));
    g.enter(() => started.push(6));
    expect(started).toEqual([0, 1, 2, 4, 3, 5, 6]);
  });

  it("elections on one store start a batch at a time; all lead; a stop before its turn resolves", { timeout: 90_000 }, async () => {
    const store = new HeldReads();
    const n = START_BATCH + 40;
    for (let i = 0; i < n; i++) elections.push(startElection({ store, key: `k.${i}`, id: `c${i}`, leaseMs: 10_000, stallThresholdMs: 0 }));
    await vi.waitFor(() => expect(store.reads).toBe(START_BATCH));
    // The last one has not started: its stop starts and stops it at once.
    const last = elections.pop()!;
    // Not started: its initial state, no lease, nothing to resign (its actor is made only at the start).
    expect(last.state()).toBe("following");
    expect(last.leadership()).toBeNull();
    last.tick();
    await last.resign();
    expect(store.reads).toBe(START_BATCH);
    await last.stop();
    expect(last.state()).toBe("stopped");
    expect(store.reads).toBe(START_BATCH + 1);
    store.open();
    await vi.waitFor(() => expect(elections.filter((e) => e.isLeader()).length).toBe(n - 1), { timeout: 60_000, interval: 50 });
    expect(store.reads).toBe(n);
  });

  it("an election retrying after errors keeps its slot: the others wait instead of starting into the retries", { timeout: 150_000 }, async () => {
    const store = new FailingReads();
    const n = START_BATCH + 20;
    // A long lease: a slot is also freed after one lease, which a slow machine must not reach here.
    for (let i = 0; i < n; i++) elections.push(startElection({ store, key: `k.${i}`, id: `c${i}`, leaseMs: 120_000, stallThresholdMs: 0 }));
    // Every admitted election has failed at least twice (so it has been in backoff and retried).
    await vi.waitFor(() => expect(store.failures).toBeGreaterThanOrEqual(2 * START_BATCH), { timeout: 60_000, interval: 20 });
    expect(store.keysRead.size).toBe(START_BATCH);
    store.heal();
    await vi.waitFor(() => expect(elections.filter((e) => e.isLeader()).length).toBe(n), { timeout: 60_000, interval: 50 });
    expect(store.keysRead.size).toBe(n);
  });
});
