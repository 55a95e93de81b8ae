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

/**
 * A signal that fires when `signal` does, or `ms` after now on `clock` (the
 * deadline of one store call). `expired()` tells the two apart; `clear()`
 * must be called when the call settles.
 */
export function deadlineSignal(
  signal: AbortSignal,
  ms: number,
  clock: TimerClock = realClock,
): { signal: AbortSignal; expired: () => boolean; clear: () => void } {
  const ac = new AbortController();
  let expired = false;
  const onAbort = () => ac.abort(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  const t = clock.setTimeout(() => {
    expired = true;
    ac.abort(new Error(`deadline of ${Math.round(ms)} ms passed`));
  }, ms);
  return {
    signal: ac.signal,
    expired: () => expired,
    clear: () => {
      clock.clearTimeout(t);
      signal.removeEventListener("abort", onAbort);
    },
  };
}
