/**
 * The drill's deployment: a {@link Fabric} of NATS servers plus one
 * `regent node --json` process per candidate of every region, each recording
 * its leadership intervals (`--intervals`) and guarded acts (`--act-log`)
 * into the drill's work directory.
 *
 * A node may run under libfaketime (clock-skew). Its monotonic clock then is
 * not the shared CLOCK_MONOTONIC (libfaketime fakes CLOCK_MONOTONIC too, as
 * an epoch-based clock running at the given rate), so its times are mapped
 * back onto the shared clock: fake = A + rate × real, with A estimated from
 * its event lines, each stamped on arrival (see {@link DrillNode.toShared}).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { RegentProcess, waitUntil, type CandidateEvent } from "../launcher/candidates.js";
import { withParentDeathSignal } from "../launcher/ports.js";
import { monotonicNowMs } from "../util/clock.js";
import { connectNats } from "../util/nats-connect.js";
import { untilQuorumSettled } from "../launcher/settled.js";
import type { Topology } from "../topology/load.js";
import type { Fabric } from "./fabric.js";

/** libfaketime's preload library (Debian package `faketime`). */
export const LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/**
 * `setpriv --pdeathsig SIGKILL --` (Linux, when available): a node dies with
 * the drill even when the drill is SIGKILLed and cannot clean up. setpriv
 * execs, so the pid (and every signal a scenario sends) stays the node's.
 */
export function deathSignalPrefix(): string[] {
  const [cmd, args] = withParentDeathSignal("node", []);
  return cmd === "node" ? [] : [cmd, ...args.slice(0, -1)];
}

/** Normalises a faketime spec (`x0.5` → `+0 x0.5`, which libfaketime needs for a rate) and reads its rate. */
export function parseSkew(spec: string): { spec: string; rate: number } {
  const s = spec.trim().startsWith("x") ? `+0 ${spec.trim()}` : spec.trim();
  const m = /(?:^|\s)x([0-9]*\.?[0-9]+)\s*$/.exec(s);
  const rate = m ? Number(m[1]) : 1;
  if (!(rate > 0) || !Number.isFinite(rate)) throw new Error(`bad faketime rate in "${spec}"`);
  return { spec: s, rate };
}

/** One `regent node` process of the drill. */
export class DrillNode {
  readonly arrivals: number[] = [];
  /** faketime spec, when skewed. */
  readonly skew: { spec: string; rate: number } | undefined;
  constructor(
    readonly proc: RegentProcess,
    readonly region: string,
    readonly wrapper: string[],
    readonly intervalsFile: string,
    readonly actsFile: string,
    skew?: string,
  ) {
    this.skew = skew ? parseSkew(skew) : undefined;
    proc.onChange(() => {
      const now = monotonicNowMs();
      while (this.arrivals.length < proc.events.length) this.arrivals.push(now);
    });
  }
  get id(): string {
    return this.proc.id;
  }
  get events(): CandidateEvent[] {
    return this.proc.events;
  }
  get running(): boolean {
    return this.proc.running;
  }

  /**
   * Maps a time printed or recorded by this node onto the shared clock.
   * Identity unless skewed; then A = max(t − rate × arrival) over all event
   * lines (each line arrives after it was printed, so every sample bounds A
   * from below and the fastest delivery gives the tightest bound).
   */
  toShared(t: number): number {
    if (!this.skew) return t;
    const r = this.skew.rate;
    let a = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < this.arrivals.length; i++) a = Math.max(a, this.proc.events[i]!.t - r * this.arrivals[i]!);
    return Number.isFinite(a) ? (t - a) / r : t;
  }

  /** Shared-clock time of an event of this node. */
  at(e: CandidateEvent): number {
    return this.toShared(e.t);
  }

  /** Is it leader of `tier` by its own events? */
  leading(tier: "region" | "global"): boolean {
    return this.proc.leadingIn(tier);
  }

  /** Does it hold `scope` by its own events (held/renewed without a later end)? */
  holds(scope: string): boolean {
    if (!this.running) return false;
    const ev = this.proc.events;
    for (let i = ev.length - 1; i >= 0; i--) {
      const e = ev[i]!;
      if (e.scope !== scope) continue;
      if (e.type === "scope-held" || e.type === "scope-renewed") return true;
      if (e.type === "scope-ended") return false;
    }
    return false;
  }
}

/** Spawn options of one node. */
export interface SpawnOptions {
  /** faketime spec; the node runs with libfaketime preloaded. */
  skew?: string;
}

export class DrillDeployment {
  readonly nodes: DrillNode[] = [];

  constructor(
    readonly topology: Topology,
    readonly regionsDir: string,
    readonly work: string,
    readonly fabric: Fabric,
  ) {}

  regionNames(): string[] {
    return this.topology.regions.map((r) => r.name);
  }

  spawn(region: string, id: string, opts: SpawnOptions = {}): DrillNode {
    const intervals = join(this.work, `${id}.intervals`);
    const acts = join(this.work, `${id}.acts`);
    const args = ["node", "--json", "--log-level", process.env.REGENT_DRILL_LOG_LEVEL ?? "warn", "--region", region, "--id", id];
    args.push("--regions", this.regionsDir, "--mode", "light", "--servers", this.fabric.urls(region).join(","));
    args.push("--intervals", intervals, "--act-log", acts);
    const wrapper = this.fabric.nodeWrapper(region);
    const launch = [...wrapper, ...deathSignalPrefix()];
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (opts.skew) {
      // Preload directly rather than through the `faketime` binary, which
      // forks: signals must reach the node itself.
      env.LD_PRELOAD = LIBFAKETIME;
      env.FAKETIME = parseSkew(opts.skew).spec;
      delete env.FAKETIME_DONT_FAKE_MONOTONIC;
    }
    const proc = new RegentProcess(id, args, { ...(launch.length ? { wrapper: launch } : {}), env });
    const n = new DrillNode(proc, region, wrapper, intervals, acts, opts.skew);
    this.nodes.push(n);
    return n;
  }

  /** Spawns every candidate of the listed regions (default all). */
  spawnAll(regions = this.regionNames(), skip: string[] = []): DrillNode[] {
    const out: DrillNode[] = [];
    for (const r of this.topology.regions) if (regions.includes(r.name)) for (const id of r.candidateIds) if (!skip.includes(id)) out.push(this.spawn(r.name, id));
    return out;
  }

  async ready(nodes = this.nodes, timeoutMs = 90_000): Promise<void> {
    await Promise.all(nodes.map((n) => n.proc.waitForEvent((e) => e.type === "ready", { timeoutMs })));
  }

  node(id: string): DrillNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }
  running(region?: string): DrillNode[] {
    return this.nodes.filter((n) => n.running && (!region || n.region === region));
  }
  regionalLeader(region: string): DrillNode | undefined {
    return this.running(region).find((n) => n.leading("region"));
  }
  globalLeader(): DrillNode | undefined {
    return this.running().find((n) => n.leading("global"));
  }
  scopeHolder(scope: string): DrillNode | undefined {
    return this.running().find((n) => n.holds(scope));
  }

  /** Waits until `pred` holds, re-checking on every event of any node. */
  until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return waitUntil(
      this.nodes.map((n) => n.proc),
      pred,
      timeoutMs,
      what,
    );
  }

  /** Steady state: a leader in every listed region, a global leader, and every scope held at home. */
  async steady(regions = this.regionNames(), timeoutMs = 60_000): Promise<void> {
    await this.until(
      () => regions.every((r) => this.regionalLeader(r)) && !!this.globalLeader() && regions.every((r) => this.scopeHolder(r)?.region === r),
      timeoutMs,
      `steady state (leaders in ${regions.join(",")}, a global leader, every scope held at home)`,
    );
  }

  /** Every lease on every quorum store (see `untilQuorumSettled`): faults that must move nothing else start from here. */
  async quorumSettled(timeoutMs = 30_000, signal?: AbortSignal): Promise<void> {
    const nc = await connectNats(this.fabric.anyUrls(), "regent-drill-settled");
    try {
      await untilQuorumSettled(nc, this.topology.cluster, this.regionNames(), timeoutMs, signal);
    } finally {
      await nc.close().catch(() => undefined);
    }
  }

  /** SIGKILLs the region's node processes and servers; returns the time of the first kill. */
  async killRegion(region: string): Promise<number> {
    const at = monotonicNowMs();
    await Promise.all(this.running(region).map((n) => n.proc.signal("SIGKILL")));
    await this.fabric.killRegion(region);
    return at;
  }

  /** Files of every node that recorded anything. */
  files(): { node: DrillNode; intervals?: string; acts?: string }[] {
    return this.nodes.map((n) => ({
      node: n,
      ...(existsSync(n.intervalsFile) ? { intervals: n.intervalsFile } : {}),
      ...(existsSync(n.actsFile) ? { acts: n.actsFile } : {}),
    }));
  }

  /** Graceful stop of every node (SIGCONT first: a frozen one would ignore SIGTERM), then the fabric. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.proc.stop(5_000).catch(() => undefined)));
    await this.fabric.stop();
  }
}
