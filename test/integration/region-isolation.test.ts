/**
 * Region isolation (issue 11), on the light-mode supercluster with `regent
 * node` processes: losing a region may move only what that region held.
 *
 * 1. Kill a region that does NOT hold the global lease (nodes and servers):
 *    its scope moves to its failover region; the global leader stays, and
 *    no surviving node loses any role (no `deposed`, no `scope-ended`).
 *    Before issue 11 this lapsed healthy regions' scopes: the one replicated
 *    global bucket stalled for a JetStream stream-leader election.
 * 2. Restart it, let its scope fail back, then kill the global leader's
 *    region: a new global leader within a bound, the lost scope moves, and
 *    again no surviving node loses a regional lease or a scope.
 * The split-brain oracle checks every lease afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitUntil, type RegentProcess } from "../../src/launcher/candidates.js";
import { startTestHarness, testRegions, type TestHarness } from "../harness/harness.js";

const REGION_LEASE = 2000;
const GLOBAL_LEASE = 3000;
const SCOPE_LEASE = 3000;
let dep: TestHarness;

beforeAll(async () => {
  dep = await startTestHarness(testRegions({ regionLeaseMs: REGION_LEASE, globalLeaseMs: GLOBAL_LEASE, scopeLeaseMs: SCOPE_LEASE, failbackAfterMs: 3000, candidates: 2 }));
}, 120_000);

afterAll(async () => {
  await dep?.stop();
});

const regions = () => dep.topology.regions.map((r) => r.name);
const holderRegion = (scope: string) => {
  const h = dep.scopeHolder(scope);
  return h ? dep.regionOf(h) : undefined;
};
/** Every scope held at home, and every lease on every quorum store (steady state: see TestHarness.quorumSettled). */
const allHome = async () => {
  await waitUntil(dep.nodes, () => regions().every((r) => holderRegion(r) === r), 40_000, "every scope held at home");
  await dep.quorumSettled();
};

/** Roles that ended on the given nodes after their event marks: `node:tier-or-scope:reason`. */
function lapses(marks: Map<RegentProcess, number>): string[] {
  return [...marks].flatMap(([n, from]) =>
    n.events
      .slice(from)
      .filter((e) => e.type === "deposed" || e.type === "scope-ended")
      .map((e) => `${n.id}:${e.type === "deposed" ? e.tier : `scope/${e.scope}`}:${e.reason}`),
  );
}

/** Each surviving region's scope holder renews three more times: a lapse the loss caused would show by then (events, not time). */
async function survivorsRenewThrice(lost: string): Promise<void> {
  for (const r of regions().filter((x) => x !== lost)) {
    const h = dep.scopeHolder(r)!;
    let from = h.events.length;
    for (let i = 0; i < 3; i++) {
      const e = await h.waitForEvent((e) => e.type === "scope-renewed" && e.scope === r, { from, timeoutMs: 15_000 });
      from = h.events.indexOf(e) + 1;
    }
  }
}

describe("losing one region moves only what it held", () => {
  it("a region without the global lease: its scope moves, the global leader stays, no survivor loses a role", async () => {
    await dep.settled();
    await allHome();
    const g = dep.globalLeader()!;
    const lost = regions().find((r) => r !== dep.regionOf(g))!;
    const survivors = dep.running().filter((n) => dep.regionOf(n) !== lost);
    const marks = new Map(survivors.map((n) => [n, n.events.length] as const));
    const killedAt = await dep.killRegion(lost);
    await waitUntil(dep.nodes, () => !!holderRegion(lost) && holderRegion(lost) !== lost, 30_000, `scope ${lost} held in its failover region`);
    const moved = dep.scopeHolder(lost)!;
    const heldAt = moved.events.findLast((e) => e.type === "scope-held" && e.scope === lost)!.t;
    console.log(`region ${lost} lost (not the global leader's): its scope held by ${moved.id} ${(heldAt - killedAt).toFixed(0)} ms after the kill`);
    // Two more scope leases of quiet: a lapse the loss caused would show by then. Synchronise on renewals, not time.
    await survivorsRenewThrice(lost);
    expect(lapses(marks)).toEqual([]);
    expect(dep.globalLeader()?.id).toBe(g.id);
    expect(heldAt - killedAt).toBeLessThan(GLOBAL_LEASE + SCOPE_LEASE + REGION_LEASE + 4_000);
  });

  it("the global leader's region: a new global leader within a bound; no survivor loses a regional lease or a scope", async () => {
    const restarted = regions().find((r) => dep.running(r).length === 0)!;
    await dep.servers.restartRegion(restarted);
    for (const c of ["a", "b"]) dep.spawn(restarted, `${restarted}-r${c}`);
    await dep.settled();
    await allHome();
    const g = dep.globalLeader()!;
    const lost = dep.regionOf(g);
    const survivors = dep.running().filter((n) => dep.regionOf(n) !== lost);
    const marks = new Map(survivors.map((n) => [n, n.events.length] as const));
    const killedAt = await dep.killRegion(lost);
    await waitUntil(dep.nodes, () => !!dep.globalLeader() && !!holderRegion(lost) && holderRegion(lost) !== lost, 30_000, "new global leader and the lost scope moved");
    const ng = dep.globalLeader()!;
    const electedAt = ng.events.findLast((e) => e.type === "elected" && e.tier === "global")!.t;
    console.log(`global leader's region ${lost} lost: ${ng.id} global leader ${(electedAt - killedAt).toFixed(0)} ms after the kill`);
    // Generous: the issue's target is L_global + 0.5 s, measured by `npm run bench -- --only regions`.
    expect(electedAt - killedAt).toBeLessThan(GLOBAL_LEASE + 3_000);
    await survivorsRenewThrice(lost);
    // Only the global role may change hands; nobody that survives loses a role (the new leader only gains one).
    expect(lapses(marks)).toEqual([]);
  });

  it("oracle: no overlap on any lease (scopes included), tokens increase, no act outside a term", async () => {
    await Promise.all(dep.nodes.map((n) => n.stop()));
    expect(dep.oracle().violations.map((v) => v.message)).toEqual([]);
    const leases = new Set(dep.intervals().map((i) => i.lease));
    for (const r of regions()) expect(leases.has(`scope/${r}`)).toBe(true);
    expect(dep.actsOutsideTerms()).toEqual([]);
  });
});
