/**
 * A stalled leader (real clock, blocked event loop): leadership is a deadline,
 * so the moment the loop runs again `isLeader()` is false, before any timer
 * has had a chance to run; the stall is reported and the holder is deposed.
 */
import { describe, expect, it } from "vitest";
import { startElection, type ElectionEvent } from "../../src/index.js";
import { MemoryLeaseStore } from "../../src/testing.js";

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* block the event loop */
  }
}

describe("stalled leader", () => {
  it("is not leader right after a stall longer than its validity, and reports the stall", async () => {
    const store = new MemoryLeaseStore();
    const e = startElection({ store, key: "stall.leader", leaseMs: 300, renewMs: 100, stallThresholdMs: 100 });
    const events: ElectionEvent[] = [];
    e.on((ev) => events.push(ev));
    const elected = await new Promise<ElectionEvent>((r) => e.on((ev) => ev.type === "elected" && r(ev)));
    expect(e.isLeader()).toBe(true);
    const signal = e.leadership()!.signal;

    busyWait(600);
    // No timer has run yet: the answer comes from the deadline alone.
    expect(e.isLeader()).toBe(false);
    expect(e.leadership()).toBeNull();

    await new Promise<void>((r) => e.on((ev) => ev.type === "deposed" && r()));
    const dep = events.find((x) => x.type === "deposed");
    expect(dep).toMatchObject({ reason: "lapsed", token: (elected as { token: number }).token });
    expect(signal.aborted).toBe(true);
    await new Promise<void>((r) => (events.some((x) => x.type === "stall") ? r() : e.on((ev) => ev.type === "stall" && r())));
    expect(e.stallStats().count).toBeGreaterThanOrEqual(1);
    expect(e.stallStats().maxMs).toBeGreaterThan(300);
    await e.stop();
  });
});
