/**
 * Timers that can run on a simulated clock: production passes nothing and
 * gets Node's timers; simulations pass xstate's `SimulatedClock`, so every
 * wait in the algorithm stays deterministic.
 */
import { AbortedError, StoreUnavailableError } from "../errors.js";
import { monotonicNowMs, type Clock } from "./clock.js";

/** Node's own timers and the process's monotonic clock, as a {@link Clock}. */
export const realClock: Clock = {
  now: monotonicNowMs,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
};

/** Resolves after `ms` on `clock`, or early (without throwing) when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal, clock: Clock = realClock): Promise<void> {
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
  clock: Clock = realClock,
): { signal: AbortSignal; expired: () => boolean; clear: () => void } {
  const ac = new AbortController();
  let expired = false;
  const onAbort = () => ac.abort(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  const t = clock.setTimeout(() => {
    expired = true;
    ac.abort(new StoreUnavailableError(`deadline of ${Math.round(ms)} ms passed`));
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

/**
 * Waits for `p` until `signal` fires, then rejects with `AbortedError`; `p`
 * itself goes on (a shared open that a later caller may still use).
 */
export function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AbortedError("aborted", { cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError("aborted", { cause: signal.reason }));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Opens each key once, shared by every caller, on the opener's own deadline:
 * a caller whose signal fires stops waiting, but the open goes on for the
 * next caller (a `state` row gives up after 500 ms; an open that takes longer
 * must still finish, or every later request would restart it and give up
 * too). A failed open is forgotten, so the next caller tries again.
 */
export function sharedOpener<T>(open: (key: string) => Promise<T>): (key: string, signal?: AbortSignal) => Promise<T> {
  const opened = new Map<string, Promise<T>>();
  return (key, signal) => {
    let p = opened.get(key);
    if (!p) {
      p = open(key);
      opened.set(key, p);
      p.catch(() => opened.delete(key));
    }
    return signal ? untilAborted(p, signal) : p;
  };
}
