/**
 * A running multi-region regent for tests, benchmarks and drills: a set of
 * NATS servers (the loopback supercluster, or the drills' network-namespace
 * one) plus one `regent node --json` process per candidate, each recording
 * its leadership intervals and guarded acts into a work directory for the
 * split-brain oracle. Spawning, finding leaders and scope holders, waiting
 * for steady state, killing a region, judging the records and stopping live
 * here once; the integration tests, the benchmarks and `regent drill` differ
 * only in the servers and the options they pass.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitUntil, type RegentProcess } from "./candidates.js";
import { HarnessNode } from "./harness-node.js";
import { untilQuorumSettled } from "./settled.js";
import { startSupercluster, type Supercluster } from "./supercluster.js";
import { monotonicNowMs } from "../util/clock.js";
import { LaunchFailedError, throwIfAborted } from "../errors.js";
import { connectNats } from "../util/nats-connect.js";
import { checkIntervals, readIntervals, type CheckResult, type LeadershipInterval } from "../observability/oracle.js";
import { loadTopology, type Topology } from "../topology/load.js";
import type { ServerMode } from "../hierarchy/store-layout.js";

/** The NATS servers a harness runs its nodes against (a {@link Supercluster}, a drill's fabric). */
export interface HarnessServers {
  /** Client URLs a region's nodes connect to. */
  allUrls(region: string): string[];
  /** Client URLs of every server, any region (operator requests, settledness queries). */
  readonly urls: string[];
  /** SIGKILL the region's servers; resolves once they are gone. */
  killRegion(region: string): Promise<void>;
  /** Command prefix to run a region's node processes (e.g. `ip netns exec <ns>`). */
  nodeWrapper?(region: string): string[];
  stop(): Promise<void>;
}

export interface HarnessOptions {
  /** Every node's `--mode` (default light; full runs each region's `servers`). */
  mode?: ServerMode;
  /** Every node's `--log-level` (default warn). */
  logLevel?: string;
  /** Run the nodes under `setpriv --pdeathsig SIGKILL`, so they die with a SIGKILLed parent. */
  deathSignal?: boolean;
  /** Environment of the nodes (default: this one without REGENT_* options, see `childEnv`). */
  env?: NodeJS.ProcessEnv;
  /** Prefix of the names of the harness's own NATS connections. */
  clientName?: string;
  /** Remove the work directory on {@link RegentHarness.stop} (the drills judge after stopping and remove it themselves). */
  removeWork?: boolean;
}

/** Spawn options of one node. */
export interface SpawnOptions {
  /** faketime spec; the node runs with libfaketime preloaded. */
  skew?: string;
}

/** A guarded act as `--act-log` records it, its time on the shared clock. */
interface Act {
  t: number;
  id: string;
  lease: string;
  token: number;
}

export class RegentHarness<S extends HarnessServers = HarnessServers> {
  readonly nodes: HarnessNode[] = [];

  constructor(
    readonly topology: Topology,
    readonly regionsDir: string,
    readonly work: string,
    readonly servers: S,
    readonly opts: HarnessOptions = {},
  ) {}

  regionNames(): string[] {
    return this.topology.regions.map((r) => r.name);
  }

  spawn(region: string, id: string, opts: SpawnOptions = {}): HarnessNode {
    const intervalsFile = join(this.work, `${id}.intervals`);
    const actsFile = join(this.work, `${id}.acts`);
    const args = ["node", "--json", "--log-level", this.opts.logLevel ?? "warn", "--region", region, "--id", id, "--regions", this.regionsDir, "--mode", this.opts.mode ?? "light"];
    args.push("--servers", this.servers.allUrls(region).join(","), "--intervals", intervalsFile, "--act-log", actsFile);
    const n = new HarnessNode(id, {
      region,
      args,
      intervalsFile,
      actsFile,
      wrapper: this.servers.nodeWrapper?.(region) ?? [],
      deathSignal: this.opts.deathSignal ?? false,
      ...(this.opts.env ? { env: this.opts.env } : {}),
      ...(opts.skew ? { skew: opts.skew } : {}),
    });
    this.nodes.push(n);
    return n;
  }

  /** Spawns every candidate of the listed regions (default all), but those in `skip`. */
  spawnAll(regions = this.regionNames(), skip: string[] = []): HarnessNode[] {
    const out: HarnessNode[] = [];
    for (const r of this.topology.regions) if (regions.includes(r.name)) for (const id of r.candidateIds) if (!skip.includes(id)) out.push(this.spawn(r.name, id));
    return out;
  }

  /** Waits for every node's `ready` event. */
  async ready(nodes = this.nodes, timeoutMs = 90_000): Promise<void> {
    await Promise.all(nodes.map((n) => n.waitForEvent((e) => e.type === "ready", { timeoutMs })));
  }

  node(id: string): HarnessNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new LaunchFailedError(`no node ${id}`);
    return n;
  }
  running(region?: string): HarnessNode[] {
    return this.nodes.filter((n) => n.running && (!region || n.region === region));
  }
  regionalLeader(region: string): HarnessNode | undefined {
    return this.running(region).find((n) => n.leadingIn("region"));
  }
  globalLeader(): HarnessNode | undefined {
    return this.running().find((n) => n.leadingIn("global"));
  }
  /** The node holding `scope` by its own events (held without a later end). */
  scopeHolder(scope: string): HarnessNode | undefined {
    return this.running().find((n) => n.holds(scope));
  }
  regionOf(n: RegentProcess): string {
    if (n instanceof HarnessNode) return n.region;
    return this.topology.regions.find((r) => n.id.startsWith(`${r.name}-`))!.name;
  }

  /** Waits until `pred` holds, re-checking on every event of any node. */
  until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return waitUntil(this.nodes, pred, timeoutMs, what);
  }

  /** Waits for a leader in every listed region (default all) and a global leader. */
  async settled(regions = this.regionNames(), timeoutMs = 60_000): Promise<void> {
    await this.until(() => regions.every((r) => this.regionalLeader(r)) && !!this.globalLeader(), timeoutMs, `leaders in ${regions.join(",")} and a global leader`);
  }

  /** Steady state: a leader in every listed region, a global leader, and every scope held at home. */
  async steady(regions = this.regionNames(), timeoutMs = 60_000): Promise<void> {
    await this.until(
      () => regions.every((r) => this.regionalLeader(r)) && !!this.globalLeader() && regions.every((r) => this.scopeHolder(r)?.region === r),
      timeoutMs,
      `steady state (leaders in ${regions.join(",")}, a global leader, every scope held at home)`,
    );
  }

  /**
   * Waits until the global lease and every scope are on every quorum store
   * (status rows with `agree` = `stores`). "Every scope held at home" comes
   * first: a store that was not takeable at the grant (a region's bucket
   * created late, a vacant store waited out for a lease) is caught up a
   * lease or so later, and until then the holder has a bare majority, so
   * losing one more store ends its term. Faults that must move nothing else
   * start from here.
   */
  async quorumSettled(timeoutMs = 30_000, signal?: AbortSignal): Promise<void> {
    const nc = await connectNats(this.servers.urls, `${this.opts.clientName ?? "regent-harness"}-settled`);
    try {
      await untilQuorumSettled(nc, this.topology.cluster, this.regionNames(), timeoutMs, signal);
    } finally {
      await nc.close().catch(() => undefined);
    }
  }

  /** SIGKILLs the region's node processes and servers; returns the time the first signal was sent. */
  async killRegion(region: string): Promise<number> {
    const now = monotonicNowMs();
    const sent = await Promise.all(this.running(region).map((n) => n.signal("SIGKILL")));
    await this.servers.killRegion(region);
    return sent.length ? Math.min(...sent) : now;
  }

  /** Files of every node that recorded anything. */
  files(): { node: HarnessNode; intervals?: string; acts?: string }[] {
    return this.nodes.map((node) => ({
      node,
      ...(existsSync(node.intervalsFile) ? { intervals: node.intervalsFile } : {}),
      ...(existsSync(node.actsFile) ? { acts: node.actsFile } : {}),
    }));
  }

  /** Every node's recorded intervals, times mapped onto the shared clock. */
  intervals(): LeadershipInterval[] {
    const out: LeadershipInterval[] = [];
    for (const f of this.files()) {
      if (!f.intervals) continue;
      for (const iv of readIntervals([f.intervals])) out.push({ ...iv, start: f.node.toShared(iv.start), end: f.node.toShared(iv.end) });
    }
    return out;
  }

  /** The split-brain oracle over every recorded interval. */
  oracle(): CheckResult {
    return checkIntervals(this.intervals());
  }

  /**
   * Every guarded act checked against its actor's own recorded term (1 ms
   * slack at the start: the act loop and the recorder read the clock
   * separately): the first 20 acts outside, and how many acts there were.
   */
  checkActs(intervals = this.intervals()): { outside: string[]; acts: number } {
    const byKey = new Map<string, LeadershipInterval[]>();
    for (const iv of intervals) {
      const k = `${iv.holder}|${iv.lease}|${iv.token}`;
      byKey.set(k, [...(byKey.get(k) ?? []), iv]);
    }
    const outside: string[] = [];
    let acts = 0;
    for (const f of this.files()) {
      if (!f.acts) continue;
      for (const a of readActs(f.node, f.acts)) {
        acts++;
        const ok = (byKey.get(`${a.id}|${a.lease}|${a.token}`) ?? []).some((i) => a.t >= i.start - 1 && a.t <= i.end);
        if (!ok && outside.length < 20) outside.push(`${a.id} acted on ${a.lease} at ${a.t.toFixed(1)} with token ${a.token} outside its term`);
      }
    }
    if (acts === 0) outside.push("no guarded acts recorded at all");
    return { outside, acts };
  }

  /** Guarded acts that fall outside the actor's own recorded term (see {@link checkActs}). */
  actsOutsideTerms(): string[] {
    return this.checkActs().outside;
  }

  /** Graceful stop of every node (SIGCONT first: a frozen one would ignore SIGTERM), then the servers. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop(5_000).catch(() => undefined)));
    await this.servers.stop();
    if (this.opts.removeWork) rmSync(this.work, { recursive: true, force: true });
  }
}

function readActs(node: HarnessNode, file: string): Act[] {
  const acts: Act[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line) continue;
    try {
      const a = JSON.parse(line) as Act;
      acts.push({ ...a, t: node.toShared(a.t) });
    } catch {
      continue; // torn last line of a killed process
    }
  }
  return acts;
}

/** Options of {@link startHarness}. */
export interface StartHarnessOptions extends Omit<HarnessOptions, "removeWork"> {
  /** Runs after the servers are up and before any node exists (e.g. subscribing to the bus, so its log is complete). */
  beforeNodes?(h: RegentHarness<Supercluster>): Promise<void>;
  /** How long every node may take to print `ready` (default 60 000 ms). */
  readyTimeoutMs?: number;
  /** Aborting the start stops everything started so far (the start then rejects). */
  signal?: AbortSignal;
}

/**
 * Starts the loopback supercluster of the topology in `regionsDir` (in
 * `opts.mode`) and every candidate of every region, and resolves once each
 * node is ready. The work directory is temporary and removed on stop; on a
 * failed start everything started is stopped again.
 */
export async function startHarness(regionsDir: string, opts: StartHarnessOptions = {}): Promise<RegentHarness<Supercluster>> {
  const { beforeNodes, readyTimeoutMs = 60_000, signal, ...rest } = opts;
  const topology = loadTopology(regionsDir);
  const sc = await startSupercluster(topology, { mode: opts.mode ?? "light", ...(signal ? { signal } : {}) });
  const h = new RegentHarness(topology, regionsDir, mkdtempSync(join(tmpdir(), "regent-harness-")), sc, { ...rest, removeWork: true });
  // Stopping the nodes makes their `ready` waits reject, which ends the start.
  const onAbort = () => void h.stop();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    throwIfAborted(signal);
    await beforeNodes?.(h);
    h.spawnAll();
    await h.ready(h.nodes, readyTimeoutMs);
    throwIfAborted(signal);
  } catch (err) {
    await h.stop();
    throw err;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  return h;
}
