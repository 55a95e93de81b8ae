/**
 * One shared timer for many elections. Thousands of elections in one process
 * each renewing every few seconds would otherwise keep thousands of Node
 * timers (each renewal cancels and re-creates two); here they wait in one
 * binary heap of due times, behind a single timer for the earliest.
 *
 * Simulations keep the clock's own timers (`timersOn`): the simulated clock
 * orders its timers itself and stays deterministic that way.
 */
import { realClock } from "./timers.js";
import { TimerHeap } from "./timer-heap.js";
import { monotonicNowMs, type Clock } from "./clock.js";

/** Schedules `fn` after `delayMs`; returns the cancel function. */
export interface Timers {
  schedule(delayMs: number, fn: () => void): () => void;
}

interface Entry {
  at: number;
  seq: number;
  fn: (() => void) | null;
}

export class TimerWheel implements Timers {
  private readonly heap = new TimerHeap<Entry>();
  private seq = 0;
  private dead = 0;
  private armed: unknown = null;
  private armedAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly now: () => number,
  ) {}

  /** Entries waiting, cancelled ones not yet dropped included (tests). */
  get size(): number {
    return this.heap.length;
  }

  schedule(delayMs: number, fn: () => void): () => void {
    const e: Entry = { at: this.now() + Math.max(0, delayMs), seq: this.seq++, fn };
    this.heap.push(e);
    if (e.at < this.armedAt) this.arm();
    return () => {
      if (!e.fn) return;
      e.fn = null;
      // Cancelled entries stay in the heap until due; drop them all once they outnumber the live ones.
      if (++this.dead > 1024 && this.dead * 2 > this.heap.length) this.compact();
    };
  }

  private fire = (): void => {
    this.armed = null;
    this.armedAt = Number.POSITIVE_INFINITY;
    const t = this.now();
    // Collect first: a callback that schedules again runs on a later turn, not in this loop.
    const due: (() => void)[] = [];
    while (this.heap.length && this.heap.peek()!.at <= t) {
      const e = this.heap.pop()!;
      if (e.fn) due.push(e.fn);
      else this.dead--;
      e.fn = null;
    }
    for (const fn of due) {
      try {
        fn();
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    if (!this.armed) this.arm();
  };

  private arm(): void {
    while (this.heap.length && !this.heap.peek()!.fn) {
      this.heap.pop();
      this.dead--;
    }
    const top = this.heap.peek();
    if (this.armed !== null) this.clock.clearTimeout(this.armed);
    this.armed = null;
    this.armedAt = Number.POSITIVE_INFINITY;
    if (!top) return;
    this.armedAt = top.at;
    this.armed = this.clock.setTimeout(this.fire, Math.max(0, top.at - this.now()));
  }

  private compact(): void {
    this.heap.retain((e) => e.fn !== null);
    this.dead = 0;
  }
}

/** `timers` as a {@link Clock} reading `now`, for code written against one (`deadlineSignal`). */
export function clockOf(timers: Timers, now: () => number = monotonicNowMs): Clock {
  return {
    now,
    setTimeout: (fn, ms) => timers.schedule(ms, fn as () => void),
    clearTimeout: (cancel) => (cancel as () => void)(),
  };
}

let shared: TimerWheel | null = null;

/**
 * Timers on `clock`: for Node's own timers (no clock given) the process-wide
 * wheel; for any other clock (simulations) that clock's timers directly.
 */
export function timersOn(clock: Clock | undefined): Timers {
  if (!clock || clock === realClock) return (shared ??= new TimerWheel(realClock, () => performance.now()));
  return {
    schedule: (delayMs, fn) => {
      const t = clock.setTimeout(fn, Math.max(0, delayMs));
      return () => clock.clearTimeout(t);
    },
  };
}
