/**
 * Region loss on the light-mode supercluster (one nats-server per region
 * cluster plus the stretched `global` cluster, one server per region), with
 * `regent node` processes as in the multi-region tests (test/harness/
 * deployment.ts, shipped regions/ timings). Each run waits for steady state
 * (a leader in every region, every scope held at home, the global leader
 * renewed twice, then a random pause within one global renew interval),
 * SIGKILLs the region holding the global lease (its nodes, its cluster and
 * its `global-<region>` server) and measures from the kill to
 *  - `elected` tier global in another region (new global leader);
 *  - `scope-held` for the lost region's scope in another region (scope moved).
 * Between runs the region is restarted and its scope fails back.
 */
import { sleep, streamLeader } from "../src/launcher/nats-launcher.js";
import { waitUntil, type RegentProcess } from "../src/launcher/candidates.js";
import { GLOBAL_BUCKET } from "../src/launcher/supercluster.js";
import { TestDeployment, testRegions } from "../test/harness/deployment.js";
import { round, summarize, type Stats } from "./stats.js";

export interface RegionsOptions {
  /** Region-loss runs (default 3; 1 quick). */
  runs?: number;
  quick?: boolean;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface RegionRun {
  run: number;
  lostRegion: string;
  /** The killed global leader. */
  globalLeader: string;
  /** Did the lost region's `global-<region>` server lead the global bucket's stream? (Then JetStream first elects a new stream leader: no global writes for a few seconds.) */
  lostGlobalStreamLeader: boolean;
  newGlobalLeader: string;
  toGlobalElectedMs: number;
  scopeHolder: string;
  toScopeHeldMs: number;
}

export interface RegionsResult {
  benchmark: "regions";
  settings: { quick: boolean; runs: number; mode: "light"; regions: string[]; candidatesPerRegion: number; regionLeaseMs: number; globalLeaseMs: number; globalRenewMs: number; scopeLeaseMs: number; failbackAfterMs: number };
  runs: RegionRun[];
  toGlobalElectedMs: Stats;
  toScopeHeldMs: Stats;
}

const holder = (dep: TestDeployment, scope: string): RegentProcess | undefined => dep.scopeHolder(scope);

export async function runRegionsBench(opts: RegionsOptions = {}): Promise<RegionsResult> {
  const quick = opts.quick ?? false;
  const runs = opts.runs ?? (quick ? 1 : 3);
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const dep = new TestDeployment(testRegions({ candidates: 2 }));
  const topo = dep.topology;
  const regions = topo.regions.map((r) => r.name);
  const allHome = () => regions.every((r) => holder(dep, r) && dep.regionOf(holder(dep, r)!) === r);
  const out: RegionRun[] = [];
  const onAbort = () => void dep.stop();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await dep.start();
    log(`regions: light supercluster up (${regions.join(", ")} + global), ${dep.nodes.length} node processes`);
    for (let run = 1; run <= runs; run++) {
      await dep.settled(undefined, 90_000);
      await waitUntil(dep.nodes, allHome, 60_000, "every scope held at home");
      // Steady: the global leader renewed twice in its term.
      const renewedTwice = () => {
        const g = dep.globalLeader();
        if (!g) return false;
        const term = g.events.slice(g.events.findLastIndex((e) => e.type === "elected" && e.tier === "global"));
        return term.filter((e) => e.type === "renewed" && e.tier === "global").length >= 2;
      };
      await waitUntil(dep.nodes, renewedTwice, 60_000, "global leader renewed twice");
      await sleep(Math.random() * topo.global.renewMs, opts.signal);
      await waitUntil(dep.nodes, () => renewedTwice() && allHome(), 30_000, "steady before the kill");
      const g = dep.globalLeader()!;
      const lost = dep.regionOf(g);
      const streamLead = await streamLeader(dep.sc.all, `KV_${GLOBAL_BUCKET}`);
      const marks = new Map(dep.nodes.map((n) => [n, n.events.length] as const));
      const since = (n: RegentProcess) => n.events.slice(marks.get(n) ?? 0);
      const killedAt = await dep.killRegion(lost);
      const newGlobal = () => {
        for (const n of dep.running()) {
          const e = since(n).find((x) => x.type === "elected" && x.tier === "global");
          if (e) return { n, t: e.t };
        }
        return undefined;
      };
      const scopeMoved = () => {
        for (const n of dep.running()) {
          const e = since(n).find((x) => x.type === "scope-held" && x.scope === lost);
          if (e) return { n, t: e.t };
        }
        return undefined;
      };
      await waitUntil(dep.nodes, () => !!newGlobal() && !!scopeMoved(), 60_000, `region ${lost} lost: new global leader and scope moved`);
      const ng = newGlobal()!;
      const sm = scopeMoved()!;
      const r: RegionRun = {
        run,
        lostRegion: lost,
        globalLeader: g.id,
        lostGlobalStreamLeader: streamLead === `global-${lost}`,
        newGlobalLeader: ng.n.id,
        toGlobalElectedMs: round(ng.t - killedAt, 1),
        scopeHolder: sm.n.id,
        toScopeHeldMs: round(sm.t - killedAt, 1),
      };
      out.push(r);
      log(
        `regions ${run}/${runs}: ${lost} lost (global leader ${g.id}${r.lostGlobalStreamLeader ? ", global stream leader" : ""}) → ` +
          `global ${r.newGlobalLeader} in ${r.toGlobalElectedMs.toFixed(0)} ms, scope ${lost} held by ${r.scopeHolder} in ${r.toScopeHeldMs.toFixed(0)} ms`,
      );
      if (run < runs) {
        await dep.sc.restartRegion(lost);
        for (const c of ["a", "b"]) dep.spawn(lost, `${lost}-r${run}${c}`);
      }
    }
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    await dep.stop();
  }
  return {
    benchmark: "regions",
    settings: {
      quick,
      runs,
      mode: "light",
      regions,
      candidatesPerRegion: 2,
      regionLeaseMs: topo.regions[0]!.leaseMs,
      globalLeaseMs: topo.global.leaseMs,
      globalRenewMs: topo.global.renewMs,
      scopeLeaseMs: topo.scopes.leaseMs,
      failbackAfterMs: topo.scopes.failbackAfterMs,
    },
    runs: out,
    toGlobalElectedMs: summarize(out.map((r) => r.toGlobalElectedMs), 1),
    toScopeHeldMs: summarize(out.map((r) => r.toScopeHeldMs), 1),
  };
}
