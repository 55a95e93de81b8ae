/**
 * The quorum authority's view of a region that elects on a quorum of stores
 * (full mode: one R1 bucket per server). One of its stores going dark must
 * not make the region look down: its scope would fail over while its leader,
 * still holding a majority, is healthy.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SimulatedClock } from "xstate";
import { startQuorumElection, type QuorumElection } from "../../src/election/quorum.js";
import { resolveTiming } from "../../src/election/timing.js";
import { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import { RegionWatch } from "../../src/scopes/region-watch.js";
import { FaultyStore } from "../../src/sim/faulty-store.js";
import { flush, prng } from "../../src/sim/election-sim.js";

let clock = new SimulatedClock();
const scopeClock = { now: () => clock.now(), setTimeout: (fn: () => void, ms: number) => clock.setTimeout(fn, ms), clearTimeout: (t: unknown) => clock.clearTimeout(t as never) };
let stop: (() => Promise<void>) | null = null;
beforeEach(() => {
  clock = new SimulatedClock();
  clock.set(1000);
});
afterEach(async () => {
  await stop?.();
  stop = null;
});

async function advance(ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    clock.increment(10);
    await flush();
  }
}

/** A region electing `a` on `n` stores, and the authority's RegionWatch of it through links of its own. */
function watchedRegion(region: string, n: number, seed: number) {
  const stores = Array.from({ length: n }, (_, i) => new MemoryLeaseStore(`${region}-${i + 1}`));
  const links = stores.map((s) => new FaultyStore(s));
  const election: QuorumElection = startQuorumElection({
    stores: stores.map((s) => new FaultyStore(s)),
    key: "leader",
    id: `${region}-a`,
    leaseMs: 2000,
    simulation: { now: () => clock.now(), clock: scopeClock, random: prng(seed), wallNow: () => clock.now() },
  });
  const watch = new RegionWatch({
    regions: [{ name: region, failover: [], leaseMs: 2000 }],
    regionStore: async () => (n === 1 ? links[0]! : links),
    ...(n > 1 ? { storesPerRegion: () => n } : {}),
    regionalKey: "leader",
    timing: resolveTiming({ leaseMs: 3000 }),
    failbackAfterMs: 4000,
    clock: scopeClock,
  });
  stop = async () => {
    watch.stop();
    const s = election.stop();
    await advance(200);
    await s;
  };
  return { election, links, watch };
}

describe("RegionWatch over a region's quorum of stores", () => {
  it("a region whose leader holds a majority stays live when one of its stores goes dark", async () => {
    // The authority's watch, through its own links to the region's three stores.
    const { election, links, watch } = watchedRegion("eu", 3, 5);
    watch.start();
    await advance(6_000);
    expect(election.isLeader()).toBe(true);
    expect(watch.live("eu")).toBe(true);
    expect(watch.leader("eu")).toBe("eu-a");
    // The server of the first store dies, for the authority (its polls fail) and for the leader.
    links[0]!.setDown(true);
    let notLive = 0;
    for (let t = 0; t < 8_000; t += 10) {
      clock.increment(10);
      await flush();
      if (!watch.live("eu") || watch.presumedDown("eu")) notLive++;
    }
    expect(election.isLeader()).toBe(true);
    expect(notLive).toBe(0);
    expect(watch.healthyFor("eu")).toBeGreaterThan(4000);
  });

  it("a region whose every store goes dark is presumed down after its lease", async () => {
    const { links, watch } = watchedRegion("us", 1, 6);
    const link = links[0]!;
    watch.start();
    await advance(6_000);
    expect(watch.live("us")).toBe(true);
    link.setDown(true);
    const downAt = clock.now();
    while (!watch.presumedDown("us")) {
      clock.increment(10);
      await flush();
      expect(clock.now() - downAt).toBeLessThan(5_000);
    }
    expect(watch.live("us")).toBe(false);
  });
});
