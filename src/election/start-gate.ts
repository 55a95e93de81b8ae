/**
 * Admits the start of many elections on one store a batch at a time.
 *
 * Why: N elections started together each read, watch and write at once. The
 * store's limiter bounds the calls in flight, but the calls queued behind it
 * keep their deadlines running; at 30,000 elections in one process most reads
 * timed out in that queue, every failure was retried after a backoff, and the
 * event loop stayed saturated with the retries: none led within 40 s
 * (BENCHMARKS.md, "Scale"). Here at most `max` elections per store are in
 * their first read-and-acquire at a time; the others have not started yet (a
 * candidate that has not started reads, writes and holds nothing), and start
 * as slots free up, in order.
 *
 * Nothing in the rules changes: a started election runs exactly as before,
 * with the same deadlines, counted from its own sends. A slot is freed once
 * the election leads or waits on a holder, or after one lease at most
 * (`election.ts`). It is held through the retries after an error: freeing it
 * at the first error let every election start into the retries, which under
 * a starved event loop was the same collapse one batch later. A store that is
 * down stops only elections on that store, which could do nothing meanwhile.
 */
import type { LeaseStore } from "../lease/store.js";

/** Elections per store in their first read-and-acquire at once. */
export const START_BATCH = 512;

export interface Admission {
  /** The election's first answer came: the slot goes to the next one. Idempotent. */
  done(): void;
  /** Start now if still waiting (a stop before the start). Idempotent. */
  now(): void;
}

interface Waiter {
  start: () => void;
  started: boolean;
}

export class StartGate {
  private active = 0;
  private queue: Waiter[] = [];
  private head = 0;

  constructor(readonly max: number = START_BATCH) {}

  /** Calls `start` now or when a slot frees up. */
  enter(start: () => void): Admission {
    const w: Waiter = { start, started: false };
    let released = false;
    const admission: Admission = {
      done: () => {
        if (released || !w.started) return;
        released = true;
        this.active--;
        this.next();
      },
      now: () => {
        if (w.started) return;
        // Out of turn and outside the count: it is stopping, not acquiring.
        released = true;
        w.started = true;
        w.start();
      },
    };
    if (this.active < this.max && this.head === this.queue.length) this.admit(w);
    else this.queue.push(w);
    return admission;
  }

  private admit(w: Waiter): void {
    this.active++;
    w.started = true;
    w.start();
  }

  private next(): void {
    while (this.active < this.max && this.head < this.queue.length) {
      const w = this.queue[this.head++]!;
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      }
      if (!w.started) this.admit(w);
    }
  }
}

const gates = new WeakMap<LeaseStore, StartGate>();

/** The process-wide gate of `store`. */
export function startGateOf(store: LeaseStore): StartGate {
  let g = gates.get(store);
  if (!g) gates.set(store, (g = new StartGate()));
  return g;
}
