/**
 * One simulated process's view of time: its monotonic clock runs at its own
 * rate (within the drift bound) from its own offset, and the process can be
 * paused (SIGSTOP) — while paused nothing of it runs: timers and store
 * replies wait until it resumes, while its clock keeps running, exactly as
 * CLOCK_MONOTONIC does under SIGSTOP. A crashed process is paused forever.
 */
import type { SimScheduler } from "./scheduler.js";

export class ProcessClock {
  private paused = false;
  private deferred: (() => void)[] = [];
  crashed = false;

  constructor(
    private readonly sched: SimScheduler,
    /** Local ms per simulated ms. */
    readonly rate: number,
    /** Local clock reading at simulated time 0. */
    readonly offset: number,
  ) {}

  now(): number {
    return this.offset + this.rate * this.sched.now();
  }

  /** Simulated (true) time at which this clock will read `local`. */
  toTrue(local: number): number {
    return (local - this.offset) / this.rate;
  }

  /** Timers that fired while paused and wait to run; clearing one of them cancels it. */
  private readonly waiting = new Set<number>();

  setTimeout(fn: (...args: unknown[]) => void, ms: number): number {
    const id: number = this.sched.setTimeout(() => {
      this.waiting.add(id);
      this.run(() => {
        if (this.waiting.delete(id)) (fn as () => void)();
      });
    }, Math.max(0, ms) / this.rate);
    return id;
  }

  clearTimeout(id: unknown): void {
    this.sched.clearTimeout(id);
    this.waiting.delete(id as number);
  }

  /** Runs `fn` now, or when the process resumes. */
  run(fn: () => void): void {
    if (this.crashed) return;
    if (this.paused) this.deferred.push(fn);
    else fn();
  }

  /** A promise that settles like `p`, but only while the process runs. */
  gate<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      p.then(
        (v) => this.run(() => resolve(v)),
        (e) => this.run(() => reject(e)),
      );
    });
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (this.crashed) return;
    this.paused = false;
    const d = this.deferred;
    this.deferred = [];
    for (const fn of d) fn();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  crash(): void {
    this.crashed = true;
    this.paused = true;
    this.deferred = [];
    this.waiting.clear();
  }
}
