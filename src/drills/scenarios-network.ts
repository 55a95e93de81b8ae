/**
 * Network and load faults: partition-region (network namespaces),
 * leader-hotspot (SIGSTOP/SIGCONT duty cycle on the leader) and churn
 * (flapping a region's NATS server).
 */
import { monotonicNowMs } from "../util/clock.js";
import { LaunchFailedError } from "../errors.js";
import { firstEvent } from "./analysis.js";
import type { HarnessNode } from "../launcher/harness-node.js";
import { attempt, failoverTarget, freezeRegion, mark, outcome, pickRegion, round, scopeMoved, sleep, type DrillContext, type ScenarioDef } from "./kit.js";
import type { ScenarioOutcome } from "./types.js";

/**
 * Cut a region's link to the core bridge. Expected: its lessee fences the
 * scope itself within one scope lease (scope-ended, lapsed), the scope moves
 * to the failover region, no overlap; after healing, it fails back.
 */
async function partitionRegion(ctx: DrillContext): Promise<ScenarioOutcome> {
  const { dep } = ctx;
  const fabric = dep.servers;
  if (!fabric.partition || !fabric.heal) throw new LaunchFailedError("partition-region needs the network-namespace fabric");
  const region = pickRegion(ctx);
  const to = failoverTarget(ctx, region);
  const holder = dep.scopeHolder(region)!;
  const failures: string[] = [];
  const from = holder.events.length;
  const at = mark(ctx, `partition region ${region} (its link to the core bridge down)`, "fault");
  await fabric.partition(region);
  const ended = await holder.waitForEvent((e) => e.type === "scope-ended" && e.scope === region, { from, timeoutMs: 15_000 }).catch((err: Error) => {
    failures.push(`the partitioned holder ${holder.id} did not end its scope term: ${err.message.slice(0, 200)}`);
    return undefined;
  });
  const scopeLease = dep.topology.scopes.leaseMs;
  const fencedAfter = ended ? holder.at(ended) - at : null;
  if (ended) mark(ctx, `${holder.id} ended scope ${region} (${String(ended.reason)})`, "note", holder.at(ended));
  if (ended && ended.reason !== "lapsed" && ended.reason !== "region-lost") failures.push(`partitioned holder ended its scope with reason ${String(ended.reason)}, expected lapsed`);
  if (fencedAfter !== null && fencedAfter > scopeLease) failures.push(`the partitioned holder fenced itself after ${Math.round(fencedAfter)} ms, more than one scope lease (${scopeLease} ms)`);
  const held = await scopeMoved(ctx, region, at, 30_000, failures);
  await sleep(2_000, ctx.signal);
  const healAt = mark(ctx, `heal region ${region}`, "heal");
  await fabric.heal(region);
  const back = await attempt(failures, dep.until(() => dep.scopeHolder(region)?.region === region, 45_000, `scope ${region} back home after healing`));
  const home = back ? firstEvent(dep, healAt, (e, n) => e.type === "scope-held" && e.scope === region && n.region === region) : undefined;
  if (home) mark(ctx, `scope ${region} failed back to ${home.node.id}`, "recovered", home.t);
  await sleep(1_000, ctx.signal);
  // Healing is a disturbance too: count the terms other leases had to start again after it.
  const after = (pred: (e: HarnessNode["events"][number], n: HarnessNode) => boolean) => dep.nodes.reduce((a, n) => a + n.events.filter((e) => n.at(e) >= healAt && pred(e, n)).length, 0);
  const globalAfterHeal = after((e) => e.type === "elected" && e.tier === "global");
  const otherScopesAfterHeal = after((e) => e.type === "scope-held" && e.scope !== region);
  return outcome({
    recoveryMs: held ? held.t - at : null,
    recoveryWhat: `region partitioned → its scope held in a failover region (first choice ${to})`,
    boundMs: scopeLease * 2 + 10_000,
    metrics: {
      region,
      failoverTo: held?.node.region ?? null,
      firstChoice: to,
      partitionedHolder: holder.id,
      selfFencedAfterMs: round(fencedAfter),
      selfFenceReason: (ended?.reason as string | undefined) ?? null,
      failbackAfterHealMs: round(home ? home.t - healAt : null),
      globalTermsAfterHeal: globalAfterHeal,
      otherScopeTermsAfterHeal: otherScopesAfterHeal,
      scopeLeaseMs: scopeLease,
    },
    failures,
    notes: ["Each region's servers and nodes run in their own network namespace; the partition takes the region's veth down at the core bridge."],
  });
}

/**
 * Starve the regional leader's event loop: SIGSTOP/SIGCONT duty cycles with
 * growing stops (up to past the lease) and short run windows. It must fence
 * itself (deposed, lapsed) rather than act late: no act after its deadline.
 */
async function leaderHotspot(ctx: DrillContext): Promise<ScenarioOutcome> {
  const { dep } = ctx;
  const region = pickRegion(ctx);
  const target = dep.regionalLeader(region)!;
  const lease = dep.topology.regions.find((r) => r.name === region)!.leaseMs;
  const failures: string[] = [];
  const from = target.events.length;
  const stops = [200, 400, 800, 1_200, 1_600, Math.round(lease * 1.25), 600, 300];
  const runMs = 60;
  const at = mark(ctx, `hotspot on ${target.id}: SIGSTOP ${stops.join("/")} ms, ${runMs} ms running between`, "fault");
  let stalledMs = 0;
  for (const stop of stops) {
    await target.signal("SIGSTOP");
    await sleep(stop);
    await target.signal("SIGCONT");
    stalledMs += stop;
    await sleep(runMs);
  }
  const endAt = mark(ctx, `hotspot over (${stalledMs} ms stopped)`, "heal");
  await attempt(failures, dep.until(() => !!dep.regionalLeader(region) && dep.scopeHolder(region)?.region === region, 30_000, `leader and scope in ${region} after the hotspot`));
  const next = firstEvent(dep, at, (e, n) => e.type === "elected" && e.tier === "region" && n.region === region && n !== target);
  if (next) mark(ctx, `${next.node.id} elected regional leader`, "recovered", next.t);
  const ends = target.events.slice(from).filter((e) => e.type === "deposed" || e.type === "scope-ended");
  await sleep(1_000, ctx.signal);
  return outcome({
    recoveryMs: next ? next.t - at : endAt - at,
    recoveryWhat: next ? "hotspot on the regional leader → a new regional leader elected" : "hotspot on the regional leader → it kept leadership (no handover was needed)",
    boundMs: stops.reduce((a, b) => a + b + runMs, 0) + lease * 2 + 10_000,
    metrics: {
      region,
      target: target.id,
      stoppedMs: stalledMs,
      selfFenced: ends.some((e) => e.type === "deposed"),
      deposedReasons: ends.map((e) => `${e.type === "deposed" ? String(e.tier) : `scope ${String(e.scope)}`}:${String(e.reason)}`).join(", ") || "none",
      newLeader: next?.node.id ?? null,
    },
    failures,
    notes: ["Load is a SIGSTOP/SIGCONT duty cycle: deterministic, and it reaches past a lease on purpose (a CPU competitor would only slow the leader by a machine-dependent amount)."],
  });
}

/**
 * Flap a region's NATS connectivity (SIGSTOP/SIGCONT its server) and count
 * leadership changes per lease against a stickiness target: no change
 * outside the flapped region, at most one per flap inside it.
 */
async function churn(ctx: DrillContext): Promise<ScenarioOutcome> {
  const { dep } = ctx;
  const region = pickRegion(ctx);
  const flaps = ctx.opts.flaps ?? 6;
  const freezeMs = 1_500;
  const thawMs = 2_500;
  const failures: string[] = [];
  const at = mark(ctx, `churn: ${flaps} × (freeze ${region}'s NATS server ${freezeMs} ms, thaw ${thawMs} ms)`, "fault");
  for (let i = 0; i < flaps; i++) {
    await freezeRegion(ctx, region, true);
    await sleep(freezeMs);
    await freezeRegion(ctx, region, false);
    if (i < flaps - 1) await sleep(thawMs, ctx.signal);
  }
  const lastThaw = mark(ctx, "last thaw", "heal");
  await attempt(failures, dep.until(() => !!dep.regionalLeader(region) && !!dep.scopeHolder(region), 30_000, `leader and scope holder for ${region} after churn`));
  const recoveredAt = monotonicNowMs();
  mark(ctx, `${region} has a leader and its scope a holder`, "recovered", recoveredAt);
  await sleep(2_000, ctx.signal);
  // Changes are counted from the events seen so far (intervals come later): new terms per lease since the first flap.
  const changes: Record<string, number> = {};
  for (const n of dep.nodes)
    for (const e of n.events) {
      if (n.at(e) < at) continue;
      const lease = e.type === "elected" ? (e.tier === "global" ? "global" : `region/${n.region}`) : e.type === "scope-held" ? `scope/${String(e.scope)}` : null;
      if (lease) changes[lease] = (changes[lease] ?? 0) + 1;
    }
  const inRegion = (l: string) => l === `region/${region}` || l === `scope/${region}`;
  const outside = Object.entries(changes).filter(([l]) => !inRegion(l) && l !== "global");
  const total = Object.values(changes).reduce((a, b) => a + b, 0);
  const targetMet = outside.every(([, c]) => c === 0) && (changes[`region/${region}`] ?? 0) <= flaps && (changes[`scope/${region}`] ?? 0) <= flaps;
  return outcome({
    recoveryMs: recoveredAt - lastThaw,
    recoveryWhat: `after the last thaw → ${region} has a regional leader and its scope a holder`,
    boundMs: 30_000,
    metrics: {
      region,
      flaps,
      freezeMs,
      thawMs,
      leadershipChanges: total,
      changesPerLease: Object.entries(changes)
        .map(([l, c]) => `${l}=${c}`)
        .join(", "),
      stickinessTarget: `0 outside ${region}, ≤ ${flaps} for region/${region} and scope/${region}`,
      stickinessMet: targetMet,
    },
    failures,
  });
}

export const networkScenarios: Record<"partition-region" | "leader-hotspot" | "churn", ScenarioDef> = {
  "partition-region": { fabric: "netns", run: partitionRegion },
  "leader-hotspot": { fabric: "loopback", run: leaderHotspot },
  churn: { fabric: "loopback", run: churn },
};
