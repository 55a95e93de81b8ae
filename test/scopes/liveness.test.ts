/**
 * Liveness of scope leases (docs/scopes.md, "Liveness"): a scope with a live
 * eligible region is held again within a bound once a global leader exists.
 */
import { afterEach, describe, expect, it } from "vitest";
import { scopeLivenessBoundMs } from "../../src/scopes/placement.js";
import { scopeViewOf } from "../../src/scopes/record.js";
import { REGIONS, ScopesWorld } from "../../src/sim/scopes-world.js";
import { scopeKey } from "../../src/wire/names.js";

let w: ScopesWorld;
afterEach(async () => w && (await w.stopAll()));

const allHeld = () => REGIONS.every((r) => !!w.holderOf(r.name));

describe("scope liveness (SimulatedClock, memory stores)", () => {
  it("the lone live region's leader gets its scopes back after a cut of its link to the global bucket", async () => {
    // The observed schedule: two regions down, the third region's leader holds
    // all three scopes, then its link to the global bucket is cut for 6 s.
    w = new ScopesWorld(7, 4000);
    for (const r of REGIONS) for (const i of [1, 2]) w.add(r.name, `${r.name}-${i}`);
    await w.until(() => REGIONS.every((r) => w.holderOf(r.name)?.node.region === r.name), 20_000, "every scope held at home");
    const [survivor, ...down] = REGIONS.map((r) => r.name) as [string, ...string[]];
    for (const r of down) w.partition(r, true);
    await w.until(() => allHeld() && REGIONS.every((r) => w.holderOf(r.name)!.node.region === survivor), 30_000, "every scope failed over to the survivor");
    const n = w.regionalLeader(survivor)!;
    expect(w.globalLeader()).toBe(n);

    n.globalLink.setDown(true);
    await w.until(() => !allHeld() && !w.globalLeader(), 10_000, "scopes and global role lost");
    await w.advance(6_000 - 10);
    n.globalLink.setDown(false);
    const healedAt = w.clock.now();
    await w.until(() => !!w.globalLeader(), 10_000, "global leader again");
    const globalAt = w.clock.now();
    expect(w.regionalLeader(survivor)).toBe(n); // the same node: the one that failed to renew
    // Memory stores answer at once: round trips cost nothing but event-loop turns (10 ms steps here).
    const bound = scopeLivenessBoundMs({ scopeLeaseMs: 3000, scopeRenewMs: 1000, regionLeaseMs: 2000, roundTripMs: 10, maxDrift: 0.01 });
    const took = await w.until(allHeld, 40_000, `every scope held again (healed at ${healedAt})`);
    expect(took, `global leader after ${globalAt - healedAt} ms, scopes after ${took} ms more`).toBeLessThanOrEqual(bound);
    for (const r of REGIONS) expect(w.holderOf(r.name)!.node).toBe(n.node);
  });

  it("a home that is live but not yet healthy for failbackAfterMs takes its scope when no failover region is live", async () => {
    // Scope `eu` sits in `us` (failed over); then `us` and `ap` are lost while
    // `eu` has just come back: eu is the only live region for its own scope.
    w = new ScopesWorld(3, 20_000);
    for (const r of REGIONS) for (const i of [1, 2]) w.add(r.name, `${r.name}-${i}`);
    await w.until(() => REGIONS.every((r) => w.holderOf(r.name)?.node.region === r.name), 20_000, "every scope held at home");
    // Keep the authority out of eu and ap: make a us node global leader.
    await w.moveGlobalTo("us");
    w.partition("eu", true);
    await w.until(() => w.holderOf("eu")?.node.region === "us", 20_000, "eu fails over to us");
    w.partition("eu", false);
    w.partition("ap", true);
    await w.advance(3_000); // eu is live again, far from healthy for 20 s
    expect(w.holderOf("eu")?.node.region).toBe("us");
    // Now us goes too, taking the authority with it; the next global leader is eu's.
    w.partition("us", true);
    const lostAt = w.clock.now();
    await w.until(() => w.holderOf("eu")?.node.region === "eu", 15_000, "eu scope held at home again");
    expect(w.clock.now() - lostAt).toBeLessThan(20_000 - 3_000); // not the failback window
  });

  it("a recall written over a lessee that has just died does not restart the full-lease wait", async () => {
    w = new ScopesWorld(3, 1000);
    for (const r of REGIONS) for (const i of [1, 2]) w.add(r.name, `${r.name}-${i}`);
    await w.until(() => REGIONS.every((r) => w.holderOf(r.name)?.node.region === r.name), 20_000, "every scope held at home");
    // Make an ap node the global leader: cut the others from the global stores while it changes hands
    // (resigning in turn can go back and forth between two regions for good: the
    // resigner's competitor, not a third region, takes its release at once).
    const others = w.nodes.filter((n) => n.node.region !== "ap");
    for (const n of others) n.globalLink.setDown(true);
    await w.until(() => w.globalLeader()?.node.region === "ap", 20_000, "ap global leader");
    for (const n of others) n.globalLink.setDown(false);
    await w.until(() => REGIONS.every((r) => w.holderOf(r.name)?.node.region === r.name), 20_000, "every scope held at home again");
    w.partition("eu", true);
    await w.until(() => w.holderOf("eu")?.node.region === "us", 20_000, "eu fails over to us");
    w.partition("eu", false);
    await w.until(() => !!w.regionalLeader("eu"), 10_000, "eu led again");
    // Every write to scope.eu from here on.
    const seen: ReturnType<typeof scopeViewOf>[] = [];
    const ac = new AbortController();
    void (async () => {
      for await (const e of w.globalStore.watch(scopeKey("eu"), { signal: ac.signal })) seen.push(scopeViewOf(e));
    })().catch(() => undefined);
    // The holder dies just before the authority, seeing eu healthy for 1 s, recalls the scope.
    w.partition("us", true);
    const lostAt = w.clock.now();
    await w.until(() => w.holderOf("eu")?.node.region === "eu", 10_000, "eu scope held at home again");
    ac.abort();
    // The recall was written on the dead lessee's record, which never released it.
    const ofUs = seen.filter((v) => v.state !== "vacant" && v.state !== "unknown" && v.record.region === "us");
    expect(ofUs.some((v) => v.state === "held" && v.record.recall === "failback")).toBe(true);
    expect(ofUs.some((v) => v.state === "released")).toBe(false);
    // Its last renewal was sent before the cut: re-granted a full scope lease and a round after that, not after the recall.
    expect(w.clock.now() - lostAt).toBeLessThanOrEqual(3000 + 700);
  });
});
