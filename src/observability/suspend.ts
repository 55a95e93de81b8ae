/**
 * Host-suspend detection.
 *
 * Validity is measured on CLOCK_MONOTONIC (`process.hrtime`), which on Linux
 * stops while the host is suspended (suspend-to-RAM, hibernation). A holder
 * suspended for longer than its remaining validity would resume believing it
 * still leads, and no timer would tell it otherwise: libuv's timers run on the
 * same stopped clock, so the event-loop stall monitor sees no lag either.
 *
 * CLOCK_BOOTTIME keeps counting through a suspend and otherwise advances
 * exactly like CLOCK_MONOTONIC (same clocksource, same NTP rate adjustment),
 * so `boottime − monotonic` is constant except for suspended time. Node 20
 * exposes no BOOTTIME clock directly; `os.uptime()` is libuv's `uv_uptime`,
 * which on Linux reads `/proc/uptime` (BOOTTIME, 10 ms resolution, measured
 * here: ~4 µs per call). Other platforms derive uptime from the wall clock,
 * which a time step would move: there the detector is off.
 */
import { uptime } from "node:os";
import { monotonicNowMs } from "../util/clock.js";

/** Accumulates host suspensions seen so far. */
export interface SuspendDetector {
  /** Compares the clocks now; returns the total suspended ms detected since creation (non-decreasing). */
  check(): number;
}

export interface SuspendDetectorOptions {
  /** A clock that counts suspended time (default: `os.uptime()` in ms, i.e. CLOCK_BOOTTIME on Linux). */
  boottimeMs?: () => number;
  /** A clock that does not (default: CLOCK_MONOTONIC). */
  monotonicMs?: () => number;
  /**
   * A divergence up to this many ms is read noise (10 ms resolution of
   * /proc/uptime, two reads not taken at the same instant). Default 30.
   * Divergence below it accumulates until it crosses it, so what goes
   * unreported is always below this bound in total.
   */
  toleranceMs?: number;
}

/** `os.uptime()` in ms: CLOCK_BOOTTIME on Linux (via /proc/uptime), 10 ms resolution. */
export const bootTimeMs = (): number => uptime() * 1000;

export function createSuspendDetector(opts: SuspendDetectorOptions = {}): SuspendDetector {
  const boot = opts.boottimeMs ?? bootTimeMs;
  const mono = opts.monotonicMs ?? monotonicNowMs;
  const tolerance = opts.toleranceMs ?? 30;
  let base = boot() - mono();
  let total = 0;
  return {
    check() {
      const gap = boot() - mono() - base;
      if (gap > tolerance) {
        total += gap;
        base += gap;
      } else if (gap < -tolerance) {
        // BOOTTIME never runs slower than MONOTONIC; re-anchor rather than
        // hide a later suspension behind a negative offset.
        base += gap;
      }
      return total;
    },
  };
}

let processDetector: SuspendDetector | null | undefined;

/** One detector per process on Linux (where `os.uptime()` is CLOCK_BOOTTIME); `null` elsewhere. */
export function processSuspendDetector(): SuspendDetector | null {
  if (processDetector === undefined) processDetector = process.platform === "linux" ? createSuspendDetector() : null;
  return processDetector;
}
