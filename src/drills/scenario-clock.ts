/**
 * clock-skew: two regions' leaders run under libfaketime, and each region is
 * cut off (its NATS server frozen) while its leader holds the region's scope.
 *
 * - in bound (`--skew-in`, default `+1h x0.995`): a clock offset of an hour
 *   and a rate 0.5 % slow (inside maxDrift = 0.01). A slow holder is the
 *   dangerous direction: it believes its lease lasts longer than it does.
 *   Expected: the scope moves, the oracle stays clean.
 * - out of bound (`--skew-out`, default `x0.4`): a holder whose clock runs at
 *   40 % speed keeps acting for 2.5× its lease while the authority, on a true
 *   clock, re-grants the scope after one lease. The oracle is expected to
 *   show overlap on that scope (reported, not failed); the fenced store must
 *   reject the stale holder's writes once the new holder has claimed it.
 *
 * A fast clock (e.g. x1.5) on a holder is the safe direction (it steps down
 * early); on a successor it would take over early, which the out-of-bound
 * case already shows from the other side.
 *
 * libfaketime fakes CLOCK_MONOTONIC as well (unless FAKETIME_DONT_FAKE_MONOTONIC=1),
 * which is what makes the drift real for regent; the node's times are mapped
 * back onto the shared clock for the oracle (launcher/harness-node.ts).
 */
import { existsSync } from "node:fs";
import { connectNats } from "../util/nats-connect.js";
import { LaunchFailedError } from "../errors.js";
import { quorumPlacement } from "../hierarchy/store-layout.js";
import { NatsLeaseStore } from "../lease/nats-store.js";
import { waitFor } from "../launcher/ports.js";
import { subjects } from "../wire/subjects.js";
import { LIBFAKETIME, parseSkew } from "../launcher/harness-node.js";
import { attempt, failoverTarget, freezeRegion, mark, outcome, round, scopeMoved, sleep, type DrillContext, type ScenarioDef } from "./kit.js";
import type { ScenarioOutcome } from "./types.js";
import { decodeMoveReply, encodeMoveRequest, type MoveReply } from "../wire/move.js";
import { quorumBucket } from "../wire/names.js";

interface Roles {
  home: string;
  inBound: string;
  outBound: string;
}

function roles(ctx: DrillContext): Roles {
  const names = ctx.dep.regionNames();
  if (names.length < 3) throw new LaunchFailedError("clock-skew needs at least three regions (one for the global leader, one per skew)");
  return { home: names[0]!, inBound: names[1]!, outBound: names[2]! };
}

const skewIn = (ctx: DrillContext) => ctx.opts.skewIn ?? "+1h x0.995";
const skewOut = (ctx: DrillContext) => ctx.opts.skewOut ?? "x0.4";

/**
 * A region whose leader's clock is slow renews its regional lease late on a
 * true clock, so the authority never finds it "healthy" enough for an
 * automatic failback: bring such a scope home with a manual move (which only
 * needs the region live), as an operator would with `regent failback`.
 */
async function bringHome(ctx: DrillContext, scopes: string[]): Promise<void> {
  const { dep } = ctx;
  const nc = await connectNats(dep.servers.urls, "regent-drill-mover");
  try {
    for (const scope of scopes) {
      for (let i = 0; i < 10 && dep.scopeHolder(scope)?.region !== scope; i++) {
        const m = await nc.request(subjects(dep.topology.cluster).scopeMove, encodeMoveRequest({ scope, reason: "failback" }), { timeout: 15_000 }).catch(() => undefined);
        const reply = m ? replyOf(m.data) : undefined;
        ctx.log(`failback ${scope}: ${reply?.ok ? `held by ${reply.node}` : (reply?.error ?? "no reply")}`);
        if (!reply?.ok) await sleep(1_000, ctx.signal);
      }
    }
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** A move reply, or undefined for bytes that are not one (logged as no reply). */
function replyOf(data: Uint8Array): MoveReply | undefined {
  try {
    return decodeMoveReply(data);
  } catch {
    return undefined;
  }
}

/** The global leader on a true clock in `home`; the skewed nodes lead their own regions and hold their scopes. */
async function start(ctx: DrillContext): Promise<void> {
  if (!existsSync(LIBFAKETIME)) throw new LaunchFailedError(`clock-skew needs libfaketime (${LIBFAKETIME}): apt-get install faketime`);
  const { dep } = ctx;
  const r = roles(ctx);
  // The global lease needs a majority of the regions' quorum buckets, and a
  // node creates only its own region's: create them all first (as an
  // operator would), so the home region alone can elect the global leader.
  const nc = await connectNats(dep.servers.urls, "regent-drill-setup");
  try {
    for (const region of dep.regionNames()) {
      // Placement by server tag can be refused for a moment after start-up (docs/topology.md, quirk 7).
      await waitFor(
        () => NatsLeaseStore.open(nc, { bucket: quorumBucket(region), placement: quorumPlacement(region), signal: AbortSignal.timeout(5_000) }).then(() => true, () => undefined),
        { timeoutMs: 30_000, intervalMs: 250, what: `the quorum bucket of ${region}` },
      );
    }
  } finally {
    await nc.close().catch(() => undefined);
  }
  await dep.ready(dep.spawnAll([r.home]));
  await dep.until(() => !!dep.globalLeader(), 60_000, `a global leader in ${r.home}`);
  const first = (region: string) => dep.topology.regions.find((x) => x.name === region)!.candidateIds[0]!;
  const skewed = [dep.spawn(r.inBound, first(r.inBound), { skew: skewIn(ctx) }), dep.spawn(r.outBound, first(r.outBound), { skew: skewOut(ctx) })];
  await dep.ready(skewed);
  await dep.until(() => skewed.every((n) => n.leadingIn("region")), 60_000, "the skewed nodes leading their regions");
  await dep.ready(dep.spawnAll([r.inBound, r.outBound], skewed.map((n) => n.id)));
  await dep.until(() => dep.regionNames().every((x) => !!dep.regionalLeader(x) && !!dep.scopeHolder(x)), 60_000, "every region led and every scope held");
  await sleep(2_000, ctx.signal);
  await bringHome(ctx, [r.inBound, r.outBound]);
  await dep.steady(undefined, 30_000);
}

/** Freezes `region` until its skewed holder has ended its scope term; returns when the scope moved and when the holder stopped. */
async function cutOff(ctx: DrillContext, region: string, spec: string, failures: string[]): Promise<{ at: number; movedAt: number | null; endedAt: number | null; to: string }> {
  const { dep } = ctx;
  // Between two observations the holder may be momentarily unknown: wait for it.
  await dep.until(() => !!dep.scopeHolder(region), 30_000, `a holder of scope ${region}`);
  const holder = dep.scopeHolder(region)!;
  const to = failoverTarget(ctx, region);
  const from = holder.events.length;
  const at = mark(ctx, `freeze ${region}'s NATS server; its scope holder ${holder.id} runs under faketime "${spec}"`, "fault");
  await freezeRegion(ctx, region, true);
  try {
    const moved = await scopeMoved(ctx, region, at, 30_000, failures);
    const ended = await holder.waitForEvent((e) => e.type === "scope-ended" && e.scope === region, { from, timeoutMs: 30_000 }).catch((err: Error) => {
      failures.push(`skewed holder ${holder.id} never ended its scope term: ${err.message.slice(0, 200)}`);
      return undefined;
    });
    if (ended) mark(ctx, `${holder.id} ended scope ${region} (${String(ended.reason)}) on its own clock`, "note", holder.at(ended));
    await sleep(500, ctx.signal);
    return { at, movedAt: moved?.t ?? null, endedAt: ended ? holder.at(ended) : null, to: moved?.node.region ?? to };
  } finally {
    await freezeRegion(ctx, region, false);
    mark(ctx, `thaw ${region}`, "heal");
  }
}

async function run(ctx: DrillContext): Promise<ScenarioOutcome> {
  const { dep } = ctx;
  const r = roles(ctx);
  const failures: string[] = [];
  const inb = await cutOff(ctx, r.inBound, parseSkew(skewIn(ctx)).spec, failures);
  await attempt(failures, dep.until(() => !!dep.regionalLeader(r.inBound), 30_000, `a leader in ${r.inBound} after the thaw`));
  await sleep(3_000, ctx.signal);
  const out = await cutOff(ctx, r.outBound, parseSkew(skewOut(ctx)).spec, failures);
  await attempt(failures, dep.until(() => !!dep.regionalLeader(r.outBound), 30_000, `a leader in ${r.outBound} after the thaw`));
  await sleep(1_000, ctx.signal);
  const overlapOut = out.movedAt !== null && out.endedAt !== null ? out.endedAt - out.movedAt : null;
  return outcome({
    recoveryMs: inb.movedAt !== null ? inb.movedAt - inb.at : null,
    recoveryWhat: `in-bound skew (${parseSkew(skewIn(ctx)).spec}): holder's region frozen → scope held in ${inb.to}`,
    boundMs: dep.topology.scopes.leaseMs * 2 + 10_000,
    metrics: {
      inBoundRegion: r.inBound,
      inBoundSkew: parseSkew(skewIn(ctx)).spec,
      inBoundHolderEndedBeforeSuccessorMs: round(inb.movedAt !== null && inb.endedAt !== null ? inb.movedAt - inb.endedAt : null),
      outBoundRegion: r.outBound,
      outBoundSkew: parseSkew(skewOut(ctx)).spec,
      outBoundRecoveryMs: round(out.movedAt !== null ? out.movedAt - out.at : null),
      outBoundOverlapMs: round(overlapOut),
    },
    expectUnsafeLeases: [`scope/${r.outBound}`],
    failures,
    notes: [
      "libfaketime fakes CLOCK_MONOTONIC too (process.hrtime, libuv timers): the skewed node's monotonic clock reads the faked epoch time and runs at the given rate; its times are mapped back onto the shared clock from its event lines.",
      "With FAKETIME_DONT_FAKE_MONOTONIC=1 only Date.now() would change, which regent uses for display only: the drift variants would then test nothing.",
    ],
  });
}

export const clockScenario: ScenarioDef = { fabric: "loopback", start, run };
