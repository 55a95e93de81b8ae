/**
 * The process's monotonic clock, in one place below everything that measures
 * time with it: lease validity (lease, election, hierarchy), stall and suspend
 * detection, and the split-brain oracle, whose records from several processes
 * on one machine are compared on it.
 */

/**
 * Milliseconds (fractional, microsecond resolution) on CLOCK_MONOTONIC, which
 * every process on the machine shares. Not related to wall-clock time.
 */
export function monotonicNowMs(): number {
  // Divide in bigint first: the nanosecond count exceeds 2^53, so converting
  // it to a number directly would lose the low digits.
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}

/**
 * Time and timers, the one clock interface of regent's code: production
 * passes nothing and gets {@link realClock} (util/timers.ts: Node's timers,
 * {@link monotonicNowMs}); simulations pass xstate's `SimulatedClock` or a
 * simulated process clock (src/sim/process-clock.ts), so every wait stays
 * deterministic. `now()` is monotonic milliseconds on this clock.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}
