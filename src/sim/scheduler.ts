/**
 * A discrete-event scheduler: simulated time jumps straight to the next due
 * timer, so a minute of cluster life takes milliseconds. It satisfies xstate's
 * clock interface (`setTimeout`/`clearTimeout`), so the real election machines
 * run on it unchanged. Ties fire in scheduling order: runs are deterministic.
 */
import { TimerHeap } from "../util/timer-heap.js";

interface Timer {
  id: number;
  at: number;
  seq: number;
  fn: () => void;
}

/** Lets every pending promise callback run before the next timer fires. */
export const settle = () => new Promise<void>((r) => setImmediate(r));

export class SimScheduler {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();
  private readonly heap = new TimerHeap<Timer>();
  fired = 0;

  constructor(start = 1_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: (...args: unknown[]) => void, ms: number): number {
    const timer: Timer = { id: ++this.seq, at: this.t + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: this.seq, fn: fn as () => void };
    this.timers.set(timer.id, timer);
    this.heap.push(timer);
    return timer.id;
  }

  clearTimeout(id: unknown): void {
    this.timers.delete(id as number);
  }

  /** Runs every timer due up to `until` (absolute simulated ms), letting promises settle after each. */
  async runUntil(until: number, stop?: () => boolean): Promise<void> {
    await settle();
    for (;;) {
      if (stop?.()) return;
      const next = this.peek();
      if (!next || next.at > until) break;
      this.heap.pop();
      if (!this.timers.delete(next.id)) continue; // cleared
      this.t = Math.max(this.t, next.at);
      this.fired++;
      next.fn();
      await settle();
    }
    this.t = Math.max(this.t, until);
  }

  private peek(): Timer | undefined {
    // Drop cleared timers lazily.
    while (this.heap.length && !this.timers.has(this.heap.peek()!.id)) this.heap.pop();
    return this.heap.peek();
  }
}
