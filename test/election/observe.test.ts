import { describe, expect, it } from "vitest";
import { observe, startElection, type LeaderInfo } from "../../src/index.js";
import { MemoryLeaseStore } from "../../src/testing.js";

describe("observe()", () => {
  it("yields the current leader, then every change, without standing", async () => {
    const store = new MemoryLeaseStore();
    const ac = new AbortController();
    const seen: LeaderInfo[] = [];
    const a = startElection({ store, key: "obs.leader", id: "a", leaseMs: 600, renewMs: 150 });
    await new Promise<void>((r) => a.on((e) => e.type === "elected" && r()));
    const b = startElection({ store, key: "obs.leader", id: "b", leaseMs: 600, renewMs: 150 });
    const done = (async () => {
      for await (const info of observe(store, "obs.leader", { signal: ac.signal, reconcileMs: 100 })) {
        seen.push(info);
        if (info.state === "held" && info.leader === "b") break;
      }
    })();
    await new Promise<void>((r) => {
      const t = setInterval(() => seen.length > 0 && (clearInterval(t), r()), 5);
    });
    await a.resign();
    await done;
    ac.abort();
    expect(seen[0]).toMatchObject({ state: "held", leader: "a" });
    expect(seen.at(-1)).toMatchObject({ state: "held", leader: "b" });
    expect(seen.some((s) => s.state === "released" && s.leader === "a")).toBe(true);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.revision).toBeGreaterThanOrEqual(seen[i - 1]!.revision);
    expect(seen.at(-1)!.token!).toBeGreaterThan(seen[0]!.token!);
    await Promise.all([a.stop(), b.stop()]);
    expect(store.watcherCount).toBe(0);
  });
});
