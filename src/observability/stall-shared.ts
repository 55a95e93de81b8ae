/**
 * One stall monitor per process (per threshold), shared by every election in
 * it: a process running 10 000 elections needs one probe timer, not 10 000.
 */
import { startStallMonitor, type Stall, type StallMonitor } from "./stall.js";
import { processSuspendDetector } from "./suspend.js";

export type StallInfo = Stall;

const shared = new Map<number, { monitor: StallMonitor; listeners: Set<(s: Stall) => void> }>();

/** Calls `listener` on every stall above `thresholdMs`; returns the unsubscribe function. */
export function subscribeStalls(thresholdMs: number, listener: (s: Stall) => void): () => void {
  let entry = shared.get(thresholdMs);
  if (!entry) {
    const listeners = new Set<(s: Stall) => void>();
    const monitor = startStallMonitor({
      thresholdMs,
      intervalMs: Math.max(10, Math.min(50, thresholdMs / 4)),
      histogram: false,
      // Host suspends too: the monotonic clock (and so timer drift) does not see them.
      ...(processSuspendDetector() ? { suspend: processSuspendDetector()! } : {}),
      onStall: (s) => {
        for (const l of [...listeners]) l(s);
      },
    });
    entry = { monitor, listeners };
    shared.set(thresholdMs, entry);
  }
  const e = entry;
  e.listeners.add(listener);
  return () => {
    if (!e.listeners.delete(listener)) return;
    if (e.listeners.size === 0) {
      e.monitor.stop();
      shared.delete(thresholdMs);
    }
  };
}
