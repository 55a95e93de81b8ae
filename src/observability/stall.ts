/**
 * Event-loop stall detector.
 *
 * A leader that blocks its event loop cannot renew its lease or notice that it
 * lost it, so stalls explain (and must be told apart from) split-brain reports.
 * Detection uses timer drift: an interval timer is due every `intervalMs`; if
 * it fires much later than that, the loop was blocked for the difference.
 * Timer drift cannot see a host suspend (the monotonic clock stops with the
 * timers), so each probe also asks a {@link SuspendDetector}, when given one,
 * and reports a suspension as a stall.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

import { ConfigError } from "../errors.js";
import { monotonicNowMs } from "../util/clock.js";
import type { SuspendDetector } from "./suspend.js";

/** One detected stall. */
export interface Stall {
  /** How late the timer fired, in ms: a lower bound on how long the loop was blocked. */
  durationMs: number;
  /** Monotonic ms when the stall was detected, i.e. when the loop ran again. It began about `at - durationMs`. */
  at: number;
  /** Set when (part of) the stall was a host suspend: the ms the monotonic clock did not count. */
  suspendedMs?: number;
}

/** Options of {@link startStallMonitor}. */
export interface StallMonitorOptions {
  /** How often the probe timer is due, in ms. Default 50. */
  intervalMs?: number;
  /** A lag above this many ms counts as a stall. Default 200. */
  thresholdMs?: number;
  /** Clock in ms; default {@link monotonicNowMs}. */
  now?: () => number;
  /** Called once per stall, right after the loop resumes. */
  onStall?: (stall: Stall) => void;
  /** Also sample `perf_hooks.monitorEventLoopDelay` for percentiles. Default true. */
  histogram?: boolean;
  /** Host-suspend detector asked on every probe (see `suspend.ts`); any suspension it reports is a stall. */
  suspend?: SuspendDetector;
}

/** Counters of a {@link StallMonitor}. */
export interface StallStats {
  stalls: number;
  maxStallMs: number;
  lastStallAt?: number;
  /**
   * Event-loop delay percentiles in ms from `monitorEventLoopDelay` (10 ms
   * sampling resolution), absent when the histogram is disabled or empty.
   */
  loopDelay?: { p50Ms: number; p99Ms: number; maxMs: number };
}

/** Handle returned by {@link startStallMonitor}. */
export interface StallMonitor {
  /** Stops the timer and the histogram. Idempotent. */
  stop(): void;
  stats(): StallStats;
}

/**
 * Starts watching the event loop for stalls. The timer is unref'd, so the
 * monitor never keeps the process alive on its own.
 */
export function startStallMonitor(opts: StallMonitorOptions = {}): StallMonitor {
  const intervalMs = opts.intervalMs ?? 50;
  const thresholdMs = opts.thresholdMs ?? 200;
  const now = opts.now ?? monotonicNowMs;
  if (!(intervalMs > 0) || !Number.isFinite(intervalMs)) {
    throw new ConfigError("intervalMs", `must be a positive number, got ${intervalMs}`);
  }
  if (!(thresholdMs > 0) || !Number.isFinite(thresholdMs)) {
    throw new ConfigError("thresholdMs", `must be a positive number, got ${thresholdMs}`);
  }

  let stalls = 0;
  let maxStallMs = 0;
  let lastStallAt: number | undefined;
  let last = now();
  let suspendedTotal = opts.suspend?.check() ?? 0;

  let histogram: IntervalHistogram | undefined;
  if (opts.histogram ?? true) {
    histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
  }

  const timer = setInterval(() => {
    const t = now();
    const lag = t - last - intervalMs;
    last = t;
    const total = opts.suspend?.check() ?? 0;
    const suspendedMs = total - suspendedTotal;
    suspendedTotal = total;
    if (lag <= thresholdMs && suspendedMs <= 0) return;
    const durationMs = Math.max(0, lag) + suspendedMs;
    stalls++;
    maxStallMs = Math.max(maxStallMs, durationMs);
    lastStallAt = t;
    try {
      opts.onStall?.(suspendedMs > 0 ? { durationMs, at: t, suspendedMs } : { durationMs, at: t });
    } catch (err) {
      // A throw here would escape from a timer and crash the process; a
      // monitoring callback must not take the participant down.
      process.emitWarning(`stall monitor onStall threw: ${String(err)}`);
    }
  }, intervalMs);
  timer.unref();

  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      histogram?.disable();
    },
    stats() {
      const s: StallStats = { stalls, maxStallMs };
      if (lastStallAt !== undefined) s.lastStallAt = lastStallAt;
      // An empty histogram reports nonsense (min = 2^63), so only report it once it has samples.
      if (histogram && histogram.count > 0) {
        s.loopDelay = {
          p50Ms: histogram.percentile(50) / 1e6,
          p99Ms: histogram.percentile(99) / 1e6,
          maxMs: histogram.max / 1e6,
        };
      }
      return s;
    },
  };
}
