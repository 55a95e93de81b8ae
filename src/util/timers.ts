/**
 * Timers that can run on a simulated clock: production passes nothing and
 * gets Node's timers; simulations pass xstate's `SimulatedClock`, so every
 * wait in the algorithm stays deterministic.
 */

/** A clock for timers; xstate's `SimulatedClock` satisfies it. */
export interface TimerClock {
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
}

/** Node's own timers as a {@link TimerClock}. */
export const realClock: TimerClock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
};

/** Resolves after `ms` on `clock`, or early (without throwing) when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal, clock: TimerClock = realClock): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clock.clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = clock.setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
