/**
 * Process and server faults: kill-leader, pause-leader, kill-region,
 * nats-server-loss.
 */
import { monotonicNowMs } from "../util/clock.js";
import { firstEvent } from "./analysis.js";
import { attempt, failoverTarget, lastEvent, mark, outcome, pickRegion, regionServers, round, scopeMoved, sleep, type DrillContext, type ScenarioDef } from "./kit.js";
import type { ScenarioOutcome } from "./types.js";

/**
 * The leader a leader scenario hits: the global leader with --global, else
 * the regional leader of the picked region; its tier's lease, and which
 * nodes can succeed it.
 */
function leaderTarget(ctx: DrillContext) {
  const { dep } = ctx;
  const tier = ctx.opts.global ? "global" : "region";
  const region = pickRegion(ctx);
  const target = tier === "global" ? dep.globalLeader()! : dep.regionalLeader(region)!;
  const lease = tier === "global" ? dep.topology.global.leaseMs : dep.topology.regions.find((r) => r.name === target.region)!.leaseMs;
  const inTier = (n: { region: string }) => tier === "global" || n.region === target.region;
  return { tier, target, lease, inTier } as const;
}

/** SIGKILL the regional leader of a region (or, with --global, the global leader); recovery = a new leader of that tier. */
async function killLeader(ctx: DrillContext): Promise<ScenarioOutcome> {
  const { dep } = ctx;
  const { tier, target, lease, inTier } = leaderTarget(ctx);
  const failures: string[] = [];
  const at = mark(ctx, `SIGKILL ${tier} leader ${target.id}`, "fault");
  await target.signal("SIGKILL");
  await attempt(failures, dep.until(() => dep.running().some((n) => n !== target && inTier(n) && n.leadingIn(tier)), 30_000, `a new ${tier} leader`));
  const next = firstEvent(dep, at, (e, n) => e.type === "elected" && e.tier === tier && n !== target && inTier(n));
  if (next) mark(ctx, `${next.node.id} elected ${tier} leader`, "recovered", next.t);
  // The killed node's scope (when it held one) moves to its region's new leader.
  const scope = target.region;
  const hadScope = !!lastEvent(target, (e) => e.scope === scope && e.type === "scope-held");
  let scopeMs: number | null = null;
  if (hadScope) {
    await attempt(failures, dep.until(() => !!dep.scopeHolder(scope), 30_000, `scope ${scope} held again`));
    const held = firstEvent(dep, at, (e, n) => e.type === "scope-held" && e.scope === scope && n !== target);
    if (held) scopeMs = held.t - at;
  }
  await sleep(1_000, ctx.signal);
  return outcome({
    recoveryMs: next ? next.t - at : null,
    recoveryWhat: `SIGKILL of the ${tier} leader → a new ${tier} leader elected`,
    boundMs: lease * 2 + 10_000,
    metrics: { tier, region: target.region, killed: target.id, newLeader: next?.node.id ?? null, leaseMs: lease, scopeHeldAgainMs: round(scopeMs) },
    failures,
  });
}

/** SIGSTOP a leader beyond its lease, then SIGCONT: it must report deposed and act on nothing after its deadline. */
async function pauseLeader(ctx: DrillContext): Promise<ScenarioOutcome> {
  const { dep } = ctx;
  const { tier, target, lease, inTier } = leaderTarget(ctx);
  const token = target.tokenIn(tier);
  const failures: string[] = [];
  const from = target.events.length;
  const at = mark(ctx, `SIGSTOP ${tier} leader ${target.id}`, "fault");
  await target.signal("SIGSTOP");
  const elected = dep.until(() => dep.running().some((n) => n !== target && inTier(n) && n.leadingIn(tier)), 30_000, `a new ${tier} leader`);
  await attempt(failures, elected);
  const next = firstEvent(dep, at, (e, n) => e.type === "elected" && e.tier === tier && n !== target && inTier(n));
  if (next) mark(ctx, `${next.node.id} elected ${tier} leader`, "recovered", next.t);
  const resumeAt = at + lease + 1_000;
  await sleep(Math.max(0, resumeAt - monotonicNowMs()), ctx.signal);
  const resumedAt = mark(ctx, `SIGCONT ${target.id} (paused ${Math.round(monotonicNowMs() - at)} ms)`, "heal");
  await target.signal("SIGCONT");
  const deposed = await target
    .waitForEvent((e) => e.type === "deposed" && e.tier === tier && e.token === token, { from, timeoutMs: 10_000 })
    .catch((err: Error) => {
      failures.push(`${target.id} did not report deposed after SIGCONT: ${err.message.slice(0, 200)}`);
      return undefined;
    });
  await sleep(1_000, ctx.signal);
  // Acts of the paused term after its own recorded end are caught by the act check; count them here too.
  const lease_ = tier === "global" ? "global" : `region/${target.region}`;
  const endEvent = deposed ? target.at(deposed) : null;
  return outcome({
    recoveryMs: next ? next.t - at : null,
    recoveryWhat: `SIGSTOP of the ${tier} leader → a new ${tier} leader elected`,
    boundMs: lease * 2 + 10_000,
    metrics: {
      tier,
      paused: target.id,
      lease: lease_,
      token: token ?? null,
      deposedReason: (deposed?.reason as string | undefined) ?? null,
      deposedReportedAfterResumeMs: endEvent !== null ? round(endEvent - resumedAt) : null,
    },
    failures,
  });
}

/** SIGKILL every node and NATS server of a region (default: the global leader's region); recovery = its scope held in the failover region. */
async function killRegion(ctx: DrillContext): Promise<ScenarioOutcome> {
  const { dep } = ctx;
  const region = pickRegion(ctx, true);
  const to = failoverTarget(ctx, region);
  const hadGlobal = dep.globalLeader()?.region === region;
  const failures: string[] = [];
  const at = mark(ctx, `SIGKILL region ${region} (${dep.running(region).length} nodes + its NATS servers)`, "fault");
  await dep.killRegion(region);
  const held = await scopeMoved(ctx, region, at, 60_000, failures);
  const g = hadGlobal ? firstEvent(dep, at, (e) => e.type === "elected" && e.tier === "global") : undefined;
  await sleep(1_000, ctx.signal);
  const s = dep.topology.scopes;
  return outcome({
    recoveryMs: held ? held.t - at : null,
    recoveryWhat: `region lost → its scope held in a failover region (first choice ${to})`,
    // global failover (a global lease) + the region presumed down (a regional lease) + a full scope lease + grant/confirm
    boundMs: (hadGlobal ? dep.topology.global.leaseMs : 0) + dep.topology.regions.find((r) => r.name === region)!.leaseMs + s.leaseMs + 10_000,
    metrics: { region, failoverTo: held?.node.region ?? null, firstChoice: to, hadGlobalLeader: hadGlobal, globalRecoveryMs: round(g ? g.t - at : null), scopeLeaseMs: s.leaseMs },
    failures,
  });
}

/**
 * SIGKILL the nats-server of a region that does not hold the global lease
 * (light mode: its only server; its node processes keep running, cut off).
 * The region's quorum store and its regional bucket go with it. Recovery =
 * its scope held in a failover region. Region isolation (issue 11): the
 * global leader does not change, and no other region's regional lease or
 * scope lapses; before the quorum leases, the loss of one server of the
 * stretched global cluster stalled every region's scope for the 4–9 s of a
 * JetStream stream-leader election.
 */
async function natsServerLoss(ctx: DrillContext): Promise<ScenarioOutcome> {
  const { dep } = ctx;
  const region = pickRegion(ctx);
  const failures: string[] = [];
  const g = dep.globalLeader();
  if (g?.region === region) failures.push(`region ${region} holds the global lease; this drill loses a server of another region (omit --region)`);
  const victim = regionServers(ctx, region)[0]!;
  const survivors = dep.running().filter((n) => n.region !== region);
  const marks = new Map(survivors.map((n) => [n, n.events.length] as const));
  const at = mark(ctx, `SIGKILL nats-server ${victim} (region ${region}: its regional bucket and its quorum store)`, "fault");
  await dep.servers.signal(victim, "SIGKILL");
  const held = await scopeMoved(ctx, region, at, 60_000, failures);
  // Two scope leases more: a lapse elsewhere that the loss caused shows by then.
  await sleep(2 * dep.topology.scopes.leaseMs, ctx.signal);
  const lapses = [...marks].flatMap(([n, from]) =>
    n.events
      .slice(from)
      .filter((e) => e.type === "deposed" || e.type === "scope-ended")
      .map((e) => `${n.id}:${e.type === "deposed" ? e.tier : `scope/${e.scope}`}:${e.reason}`),
  );
  if (lapses.length) failures.push(`roles of other regions ended after the loss of ${victim}: ${lapses.join(", ")}`);
  const globalChanged = !!firstEvent(dep, at, (e) => e.type === "elected" && e.tier === "global");
  if (globalChanged) failures.push(`the global leader changed after the loss of ${victim}, a server of a region without the global lease`);
  const s = dep.topology.scopes;
  return outcome({
    recoveryMs: held ? held.t - at : null,
    recoveryWhat: `loss of ${region}'s nats-server → its scope held in a failover region`,
    // The authority presumes the region down after a regional lease, then waits out the scope lease.
    boundMs: dep.topology.regions.find((r) => r.name === region)!.leaseMs + s.leaseMs + 10_000,
    metrics: { killed: victim, region, failoverTo: held?.node.region ?? null, globalLeaderChanged: globalChanged, lapsesElsewhere: lapses.length },
    failures,
    notes: ["The region's nodes keep running without NATS: they lose their regional lease and scope, and nothing else moves."],
  });
}

export const basicScenarios: Record<"kill-leader" | "pause-leader" | "kill-region" | "nats-server-loss", ScenarioDef> = {
  "kill-leader": { fabric: "loopback", run: killLeader },
  "pause-leader": { fabric: "loopback", run: pauseLeader },
  "kill-region": { fabric: "loopback", run: killRegion },
  "nats-server-loss": { fabric: "loopback", run: natsServerLoss },
};
