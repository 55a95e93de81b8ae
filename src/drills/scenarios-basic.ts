/**
 * Process and server faults: kill-leader, pause-leader, kill-region,
 * nats-server-loss.
 */
import { waitFor } from "../launcher/ports.js";
import { GLOBAL_BUCKET } from "../launcher/supercluster.js";
import { monotonicNowMs } from "../observability/oracle.js";
import { firstEvent } from "./analysis.js";
import { attempt, failoverTarget, lastEvent, mark, outcome, pickRegion, round, scopeMoved, sleep, type DrillContext, type ScenarioDef } from "./kit.js";
import type { ScenarioOutcome } from "./types.js";

/** SIGKILL the regional leader of a region (or, with --global, the global leader); recovery = a new leader of that tier. */
async function killLeader(ctx: DrillContext): Promise<ScenarioOutcome> {
  const { dep } = ctx;
  const tier = ctx.opts.global ? "global" : "region";
  const region = pickRegion(ctx);
  const target = tier === "global" ? dep.globalLeader()! : dep.regionalLeader(region)!;
  const lease = tier === "global" ? dep.topology.global.leaseMs : dep.topology.regions.find((r) => r.name === target.region)!.leaseMs;
  const failures: string[] = [];
  const at = mark(ctx, `SIGKILL ${tier} leader ${target.id}`, "fault");
  await target.proc.signal("SIGKILL");
  const inTier = (n: { region: string }) => tier === "global" || n.region === target.region;
  await attempt(failures, dep.until(() => dep.running().some((n) => n !== target && inTier(n) && n.leading(tier)), 30_000, `a new ${tier} leader`));
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
  const tier = ctx.opts.global ? "global" : "region";
  const region = pickRegion(ctx);
  const target = tier === "global" ? dep.globalLeader()! : dep.regionalLeader(region)!;
  const lease = tier === "global" ? dep.topology.global.leaseMs : dep.topology.regions.find((r) => r.name === target.region)!.leaseMs;
  const token = target.proc.tokenIn(tier);
  const failures: string[] = [];
  const from = target.events.length;
  const at = mark(ctx, `SIGSTOP ${tier} leader ${target.id}`, "fault");
  await target.proc.signal("SIGSTOP");
  const inTier = (n: { region: string }) => tier === "global" || n.region === target.region;
  const elected = dep.until(() => dep.running().some((n) => n !== target && inTier(n) && n.leading(tier)), 30_000, `a new ${tier} leader`);
  await attempt(failures, elected);
  const next = firstEvent(dep, at, (e, n) => e.type === "elected" && e.tier === tier && n !== target && inTier(n));
  if (next) mark(ctx, `${next.node.id} elected ${tier} leader`, "recovered", next.t);
  const resumeAt = at + lease + 1_000;
  await sleep(Math.max(0, resumeAt - monotonicNowMs()), ctx.signal);
  const resumedAt = mark(ctx, `SIGCONT ${target.id} (paused ${Math.round(monotonicNowMs() - at)} ms)`, "heal");
  await target.proc.signal("SIGCONT");
  const deposed = await target.proc
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
    // global failover (lease + up to 8 s of stream-leader election) + a full scope lease + grant/confirm
    boundMs: (hadGlobal ? dep.topology.global.leaseMs + 8_000 : 0) + s.leaseMs + 10_000,
    metrics: { region, failoverTo: held?.node.region ?? null, firstChoice: to, hadGlobalLeader: hadGlobal, globalRecoveryMs: round(g ? g.t - at : null), scopeLeaseMs: s.leaseMs },
    failures,
  });
}

/** SIGKILL the server leading the global bucket's stream; recovery = the global lease written again. */
async function natsServerLoss(ctx: DrillContext): Promise<ScenarioOutcome> {
  const { dep } = ctx;
  const stream = `KV_${GLOBAL_BUCKET}`;
  const failures: string[] = [];
  const victim = await waitFor(() => dep.fabric.streamLeader(stream), { timeoutMs: 20_000, what: `a leader of ${stream}` });
  const at = mark(ctx, `SIGKILL nats-server ${victim} (leader of ${stream})`, "fault");
  await dep.fabric.signal(victim, "SIGKILL");
  let newLeaderAt: number | null = null;
  const newLeader = await waitFor(
    async () => {
      const l = await dep.fabric.streamLeader(stream);
      return l && l !== victim ? l : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: `a new leader of ${stream}` },
  ).catch((err: Error) => {
    failures.push(err.message);
    return null;
  });
  if (newLeader) newLeaderAt = mark(ctx, `${newLeader} leads ${stream}`, "note");
  // Writable again: the first global renewal or election after the new stream leader appeared (250 ms slack for polling).
  const wrote = () => (newLeaderAt === null ? undefined : firstEvent(dep, newLeaderAt - 250, (e) => (e.type === "renewed" || e.type === "elected") && e.tier === "global"));
  await attempt(failures, dep.until(() => !!wrote(), 30_000, "a global lease write after the stream-leader change"));
  const w = wrote();
  if (w) mark(ctx, `global lease ${w.e.type} by ${w.node.id}`, "recovered", w.t);
  const steadyAgain = await attempt(failures, dep.steady(undefined, 60_000));
  const steadyAt = monotonicNowMs();
  const globalChanged = !!firstEvent(dep, at, (e) => e.type === "elected" && e.tier === "global");
  const scopeTerms = dep.nodes.flatMap((n) => n.events.filter((e) => e.type === "scope-held" && n.at(e) >= at)).length;
  return outcome({
    recoveryMs: w ? w.t - at : null,
    recoveryWhat: `loss of the ${stream} stream leader → the global lease written again`,
    boundMs: 20_000,
    metrics: {
      killed: victim,
      newStreamLeader: newLeader,
      streamLeaderElectionMs: round(newLeaderAt !== null ? newLeaderAt - at : null),
      globalLeaderChanged: globalChanged,
      scopeTermsStarted: scopeTerms,
      steadyAgainMs: steadyAgain ? round(steadyAt - at) : null,
    },
    failures,
    notes: ["nats-server 2.9 stops writes to a replicated stream for a few seconds while it elects a new stream leader; leases ride this out or lapse safely."],
  });
}

export const basicScenarios: Record<"kill-leader" | "pause-leader" | "kill-region" | "nats-server-loss", ScenarioDef> = {
  "kill-leader": { fabric: "loopback", run: killLeader },
  "pause-leader": { fabric: "loopback", run: pauseLeader },
  "kill-region": { fabric: "loopback", run: killRegion },
  "nats-server-loss": { fabric: "loopback", run: natsServerLoss },
};
