/**
 * What a scenario gets to work with, and small helpers shared by them.
 */
import { monotonicNowMs } from "../util/clock.js";
import { AbortedError, LaunchFailedError } from "../errors.js";
import { sleep as timersSleep } from "../util/timers.js";
import { firstEvent } from "./analysis.js";
import type { HarnessNode } from "../launcher/harness-node.js";
import type { DrillHarness } from "./fabric.js";
import type { DrillOptions, ScenarioOutcome, TimelineMark } from "./types.js";

export interface DrillContext {
  dep: DrillHarness;
  opts: DrillOptions;
  marks: TimelineMark[];
  /** Aborted when the drill is interrupted (SIGINT/SIGTERM). */
  signal: AbortSignal;
  log(msg: string): void;
}

/** A scenario: how to bring the deployment to steady state (default: every candidate, then {@link DrillHarness.steady}) and the fault itself. */
export interface ScenarioDef {
  fabric: "loopback" | "netns";
  start?(ctx: DrillContext): Promise<void>;
  run(ctx: DrillContext): Promise<ScenarioOutcome>;
}

export function mark(ctx: DrillContext, label: string, kind: TimelineMark["kind"], t = monotonicNowMs()): number {
  ctx.marks.push({ t, label, kind });
  ctx.log(`${kind}: ${label}`);
  return t;
}

/** The one `sleep` (util/timers.ts), rejecting when the drill is interrupted so a scenario stops where it is. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw new AbortedError("drill interrupted", { cause: signal.reason });
  await timersSleep(ms, signal);
  if (signal?.aborted) throw new AbortedError("drill interrupted", { cause: signal.reason });
}

/** The region to hit: `--region`, else the first region (by name) whose leader is not the global leader. */
export function pickRegion(ctx: DrillContext, preferGlobal = false): string {
  const { dep, opts } = ctx;
  if (opts.region) {
    if (!dep.regionNames().includes(opts.region)) throw new LaunchFailedError(`unknown region ${opts.region} (known: ${dep.regionNames().join(", ")})`);
    return opts.region;
  }
  const g = dep.globalLeader()?.region;
  if (preferGlobal && g) return g;
  return dep.regionNames().find((r) => r !== g) ?? dep.regionNames()[0]!;
}

/** The NATS servers of a region's own cluster. */
export function regionServers(ctx: DrillContext, region: string): string[] {
  return ctx.dep.servers
    .servers()
    .filter((s) => s.cluster === region)
    .map((s) => s.name);
}

/** SIGSTOP (freeze) or SIGCONT (thaw) every server of the region's own cluster. */
export async function freezeRegion(ctx: DrillContext, region: string, freeze: boolean): Promise<void> {
  for (const s of regionServers(ctx, region)) await ctx.dep.servers.signal(s, freeze ? "SIGSTOP" : "SIGCONT");
}

/** The first region of `region`'s failover list other than `except`. */
export function failoverTarget(ctx: DrillContext, region: string, except: string[] = []): string {
  const spec = ctx.dep.topology.regions.find((r) => r.name === region)!;
  return spec.failover.find((r) => !except.includes(r)) ?? spec.failover[0]!;
}

/**
 * Waits until `scope` is held outside its home region (the authority picks
 * the first *live* region of the failover list, which need not be the first
 * one: a new authority may not have seen it renew yet) and returns the first
 * such `scope-held` after `from`. A timeout is recorded in `failures`.
 */
export async function scopeMoved(ctx: DrillContext, scope: string, from: number, timeoutMs: number, failures: string[]): Promise<{ t: number; node: HarnessNode } | undefined> {
  const { dep } = ctx;
  const away = (n: HarnessNode | undefined) => !!n && n.region !== scope;
  await attempt(failures, dep.until(() => away(dep.scopeHolder(scope)), timeoutMs, `scope ${scope} held outside ${scope}`));
  const held = firstEvent(dep, from, (e, n) => e.type === "scope-held" && e.scope === scope && n.region !== scope);
  if (held) mark(ctx, `scope ${scope} held by ${held.node.id} (${held.node.region})`, "recovered", held.t);
  return held;
}

/** Last event of `node` matching `pred`, with its shared-clock time. */
export function lastEvent(node: HarnessNode, pred: (e: HarnessNode["events"][number]) => boolean): { t: number; e: HarnessNode["events"][number] } | undefined {
  for (let i = node.events.length - 1; i >= 0; i--) {
    const e = node.events[i]!;
    if (pred(e)) return { t: node.at(e), e };
  }
  return undefined;
}

/** Records a wait that timed out as a scenario failure instead of aborting the drill (the oracle still runs). */
export async function attempt(failures: string[], what: Promise<unknown>): Promise<boolean> {
  try {
    await what;
    return true;
  } catch (err) {
    failures.push((err as Error).message);
    return false;
  }
}

export function outcome(o: Partial<ScenarioOutcome> & Pick<ScenarioOutcome, "recoveryWhat" | "boundMs">): ScenarioOutcome {
  return { recoveryMs: null, metrics: {}, failures: [], notes: [], ...o };
}

export const round = (ms: number | null | undefined): number | null => (ms === null || ms === undefined ? null : Math.round(ms));
