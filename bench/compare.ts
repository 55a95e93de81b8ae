/**
 * regent beside etcd: graceful handover and crash failover, same lease/TTL,
 * same number of candidates (3), each candidate its own OS process:
 *  - regent: `regent elect --json` on one local nats-server (R1 bucket);
 *  - etcd: `bench/etcd-candidate.ts` (npm `etcd3`, `election(name, ttl)
 *    .campaign(id)`) on one local etcd 3.4 member.
 * Rounds are interleaved (regent, etcd, regent, etcd, …) with both pools
 * alive the whole time, so machine noise lands on both. Every timestamp is a
 * CLOCK_MONOTONIC reading of the candidates themselves or of this process.
 *
 * Handover: the steady leader is told `resign` on stdin; measured from its
 * `deposed` line (and from our write) to the successor's `elected` line.
 * Crash: the steady leader (renewed at least twice in its term, every
 * follower watching) is SIGKILLed at a uniformly random point of one renew
 * interval; measured from the kill to the successor's `elected` line.
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { CandidateProcess, RegentProcess } from "../src/launcher/candidates.js";
import { sleep, startNatsServer, type NatsServerHandle } from "../src/launcher/nats-launcher.js";
import { monotonicNowMs } from "../src/util/clock.js";
import { describe, firstElected, until, type FailoverRound, type HandoverRound } from "./election.js";
import { ensureEtcd, etcdVersion, startEtcd, type EtcdHandle } from "./etcd.js";
import { round, summarize, type Stats } from "./stats.js";

export type SystemName = "regent" | "etcd";

export interface CompareOptions {
  /** Handover rounds per system and lease (default 40; 1 quick). */
  handoverRounds?: number;
  /**
   * Unrecorded handovers per pool before the recorded ones (default 3; 0
   * quick): each fresh candidate process takes over once, so V8 has compiled
   * the takeover path, as in a long-running coordinator. Same for both systems.
   */
  handoverWarmup?: number;
  /** Lease/TTL lengths, whole seconds (default [2000, 10000]; [2000] quick). */
  leasesMs?: number[];
  /** Crash rounds per system, one per lease (default [12, 4]; [1] quick). */
  crashRounds?: number[];
  quick?: boolean;
  /** Install etcd-server with apt-get when missing (root only). Default true. */
  installEtcd?: boolean;
  /** Run regent only (etcd missing and not wanted). */
  skipEtcd?: boolean;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface SystemHandover {
  rounds: HandoverRound[];
  deposedToElectedMs: Stats;
  resignToElectedMs: Stats;
}
export interface SystemFailover {
  renewMs: number;
  rounds: FailoverRound[];
  failoverMs: Stats;
  /** failover / lease. */
  ratio: Stats;
}
/** regent ÷ etcd of median, p99 and max: below 1 regent is faster. */
export interface Ratios {
  median: number;
  p99: number;
  max: number;
}

export interface CompareResult {
  benchmark: "compare";
  settings: { quick: boolean; candidates: number; handoverRounds: number; handoverWarmup?: number; leasesMs: number[]; crashRounds: number[] };
  versions: { etcd: string | null; etcd3Client: string };
  /** Why etcd was not measured (then only regent figures are present). */
  etcdSkipped: string | null;
  handover: { leaseMs: number; regent: SystemHandover; etcd: SystemHandover | null; ratio: Ratios | null }[];
  failover: { leaseMs: number; regent: SystemFailover; etcd: SystemFailover | null; ratio: Ratios | null }[];
}

const CANDIDATES = 3;
const ETCD_CANDIDATE = fileURLToPath(new URL("./etcd-candidate.ts", import.meta.url));

/** tsx's loader as an absolute URL, so a TypeScript child process starts whatever the cwd is. */
export function tsxImport(): string {
  return import.meta.resolve("tsx");
}

export function etcd3ClientVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    const pkg = require("etcd3/package.json") as { version: string };
    return pkg.version;
  } catch {
    return "not installed";
  }
}

type Ctx = { nats: NatsServerHandle; etcd: EtcdHandle | null; registry: Set<RegentProcess>; log: (l: string) => void; signal: AbortSignal | undefined };

/** The candidates of one election of one system; replacements get fresh ids. */
class Pool {
  readonly all: RegentProcess[] = [];
  readonly killed = new Set<RegentProcess>();
  readonly renewMs: number;
  private n = 0;
  constructor(
    private readonly ctx: Ctx,
    readonly system: SystemName,
    readonly name: string,
    readonly leaseMs: number,
  ) {
    // regent: explicit renew = lease/3; etcd3 keeps its lease alive every TTL/3.
    this.renewMs = Math.floor(leaseMs / 3);
    for (let i = 0; i < CANDIDATES; i++) this.spawn();
  }

  spawn(): RegentProcess {
    const id = `${this.system}-${this.name}-${++this.n}`;
    const c =
      this.system === "regent"
        ? new CandidateProcess({ id, servers: [this.ctx.nats.url], key: `cmp.${this.name}`, bucket: "cmp", leaseMs: this.leaseMs, renewMs: this.renewMs })
        : new RegentProcess(id, ["--endpoints", this.ctx.etcd!.url, "--name", `cmp-${this.name}`, "--id", id, "--ttl", String(this.leaseMs / 1000)], {
            self: { command: process.execPath, args: ["--import", tsxImport(), ETCD_CANDIDATE] },
          });
    this.all.push(c);
    this.ctx.registry.add(c);
    return c;
  }

  get live(): RegentProcess[] {
    return this.all.filter((c) => !this.killed.has(c));
  }

  assertAlive(): void {
    const dead = this.live.filter((c) => !c.running);
    if (dead.length) throw new Error(`candidate exited unexpectedly:\n${describe(dead)}`);
  }

  /**
   * The single leader once every follower is ready to take over and the
   * leader renewed `renewals` times in its term. A regent follower is ready
   * when its latest `leader-changed` names this leader and token (it watches
   * the lease); an etcd follower when its latest campaign line is `watching`
   * (its delete-watch on its predecessor's key exists).
   */
  steadyLeader(renewals: number): RegentProcess | undefined {
    this.assertAlive();
    const leaders = this.live.filter((c) => c.leading);
    if (leaders.length !== 1) return undefined;
    const l = leaders[0]!;
    const token = l.token;
    const ready =
      this.system === "regent"
        ? (c: RegentProcess) => {
            const v = c.events.findLast((e) => e.type === "leader-changed");
            return v?.leader === l.id && v.token === token;
          }
        : (c: RegentProcess) => c.events.findLast((e) => ["ready", "watching", "elected", "deposed", "error"].includes(e.type))?.type === "watching";
    if (!this.live.every((c) => c === l || ready(c))) return undefined;
    // A regent follower takes a release in milliseconds once it trusts the
    // term: it saw it start, or has watched it for a full lease (docs/safety.md,
    // R9). Followers that lost the race into it only trust it after the lease,
    // so measure handovers of terms some follower trusts, as in steady state.
    if (this.system === "regent" && !this.live.some((c) => c !== l && watchedFor(c, l, token) >= this.leaseMs + 100)) return undefined;
    const term = l.events.slice(l.events.findLastIndex((e) => e.type === "elected"));
    return term.filter((e) => e.type === "renewed" && e.token === token).length >= renewals ? l : undefined;
  }

  stop = () => Promise.all(this.all.map((c) => c.stop()));
}

async function handoverRound(ctx: Ctx, pool: Pool, r: number, rounds: number, kind = "handover"): Promise<HandoverRound> {
  const tag = `${pool.system} ${kind} ${pool.leaseMs} ms ${r}/${rounds}`;
  const leader = await until(pool.live, () => pool.steadyLeader(0), 30_000 + 3 * pool.leaseMs, `${tag}: a steady leader`, ctx.signal);
  const others = pool.live.filter((c) => c !== leader);
  const from = new Map(pool.live.map((c) => [c, c.events.length] as const));
  const sentAt = monotonicNowMs();
  leader.send("resign");
  const done = () => {
    pool.assertAlive();
    const d = leader.events.slice(from.get(leader)).find((e) => e.type === "deposed");
    const s = firstElected(others, from);
    return d && s ? ([d, s] as const) : undefined;
  };
  const [dep, succ] = await until(pool.live, done, 3 * pool.leaseMs + 10_000, `${tag}: successor of ${leader.id}`, ctx.signal);
  if (dep.reason !== "resigned") throw new Error(`${tag}: ${leader.id} deposed for "${dep.reason}", expected "resigned"`);
  const s: HandoverRound = {
    round: r,
    from: leader.id,
    to: succ.c.id,
    token: succ.e.token!,
    deposedToElectedMs: round(succ.e.t - dep.t),
    resignToElectedMs: round(succ.e.t - sentAt),
  };
  ctx.log(`${tag}: ${s.from} → ${s.to} in ${s.deposedToElectedMs.toFixed(1)} ms (${s.resignToElectedMs.toFixed(1)} ms from resign)`);
  return s;
}

async function crashRound(ctx: Ctx, pool: Pool, r: number, rounds: number): Promise<FailoverRound> {
  const tag = `${pool.system} crash ${pool.leaseMs} ms ${r}/${rounds}`;
  const steady = () => until(pool.live, () => pool.steadyLeader(2), 30_000 + 5 * pool.leaseMs, `${tag}: steady leader`, ctx.signal);
  await steady();
  // A uniformly random phase of the renew cycle, as real crashes are.
  await sleep(Math.random() * pool.renewMs, ctx.signal);
  const leader = await steady();
  const survivors = pool.live.filter((c) => c !== leader);
  const from = new Map(survivors.map((c) => [c, c.events.length] as const));
  const lastRenew = leader.events.findLast((e) => e.type === "renewed")!.t;
  pool.killed.add(leader);
  const killedAt = await leader.signal("SIGKILL");
  const succ = await until(survivors, () => (pool.assertAlive(), firstElected(survivors, from)), 3 * pool.leaseMs + 10_000, `${tag}: successor of ${leader.id}`, ctx.signal);
  const failoverMs = succ.e.t - killedAt;
  const s: FailoverRound = {
    round: r,
    killed: leader.id,
    successor: succ.c.id,
    token: succ.e.token!,
    failoverMs: round(failoverMs),
    ratio: round(failoverMs / pool.leaseMs, 4),
    lastRenewAgoMs: round(killedAt - lastRenew),
  };
  ctx.log(`${tag}: ${s.killed} killed → ${s.successor} in ${s.failoverMs.toFixed(0)} ms (×${s.ratio.toFixed(3)} lease)`);
  pool.spawn(); // always three candidates
  return s;
}

export function ratios(regent: Stats, etcd: Stats): Ratios {
  const q = (a: number, b: number) => (b > 0 ? round(a / b, 3) : Number.NaN);
  return { median: q(regent.median, etcd.median), p99: q(regent.p99, etcd.p99), max: q(regent.max, etcd.max) };
}

function handoverOf(rounds: HandoverRound[]): SystemHandover {
  return { rounds, deposedToElectedMs: summarize(rounds.map((s) => s.deposedToElectedMs)), resignToElectedMs: summarize(rounds.map((s) => s.resignToElectedMs)) };
}
function failoverOf(rounds: FailoverRound[], renewMs: number): SystemFailover {
  return { renewMs, rounds, failoverMs: summarize(rounds.map((s) => s.failoverMs)), ratio: summarize(rounds.map((s) => s.ratio), 4) };
}

/** Runs the comparison; stops every candidate, the nats-server and etcd, also on error. */
export async function runCompareBench(opts: CompareOptions = {}): Promise<CompareResult> {
  const quick = opts.quick ?? false;
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const leasesMs = opts.leasesMs ?? (quick ? [2_000] : [2_000, 10_000]);
  for (const l of leasesMs) if (!(l >= 1000 && l % 1000 === 0)) throw new RangeError(`lease ${l} ms: etcd TTLs are whole seconds`);
  const handoverRounds = opts.handoverRounds ?? (quick ? 1 : 40);
  const handoverWarmup = opts.handoverWarmup ?? (quick ? 0 : 3);
  const crashRounds = leasesMs.map((l, i) => opts.crashRounds?.[i] ?? opts.crashRounds?.at(-1) ?? (quick ? 1 : l <= 2_000 ? 12 : 4));

  let etcdSkipped: string | null = opts.skipEtcd ? "skipped on request" : null;
  let etcdBin: string | undefined;
  if (!etcdSkipped) {
    const e = ensureEtcd({ install: opts.installEtcd ?? true, log });
    etcdBin = e.bin;
    if (!etcdBin) etcdSkipped = e.reason ?? "etcd not available";
  }
  if (etcdSkipped) log(`compare: etcd part skipped: ${etcdSkipped}`);
  const systems: SystemName[] = etcdSkipped ? ["regent"] : ["regent", "etcd"];

  const registry = new Set<RegentProcess>();
  let nats: NatsServerHandle | undefined;
  let etcd: EtcdHandle | null = null;
  try {
    nats = await startNatsServer({ jetstream: true, ...(opts.signal ? { signal: opts.signal } : {}) });
    if (etcdBin) etcd = await startEtcd(etcdBin, opts.signal ? { signal: opts.signal } : {});
    log(`compare: nats-server at ${nats.url}${etcd ? `, etcd at ${etcd.url}` : ""}; ${CANDIDATES} candidate processes per system`);
    const ctx: Ctx = { nats, etcd, registry, log, signal: opts.signal };
    const handover: CompareResult["handover"] = [];
    const failover: CompareResult["failover"] = [];

    for (const leaseMs of leasesMs) {
      const pools = systems.map((s) => new Pool(ctx, s, `h${leaseMs}`, leaseMs));
      const samples = new Map<SystemName, HandoverRound[]>(systems.map((s) => [s, []]));
      try {
        for (let r = 1; r <= handoverWarmup; r++) for (const p of pools) await handoverRound(ctx, p, r, handoverWarmup, "warm-up");
        for (let r = 1; r <= handoverRounds; r++) for (const p of pools) samples.get(p.system)!.push(await handoverRound(ctx, p, r, handoverRounds));
      } finally {
        await Promise.all(pools.map((p) => p.stop()));
      }
      const regent = handoverOf(samples.get("regent")!);
      const et = samples.has("etcd") ? handoverOf(samples.get("etcd")!) : null;
      handover.push({ leaseMs, regent, etcd: et, ratio: et ? ratios(regent.deposedToElectedMs, et.deposedToElectedMs) : null });
    }

    for (const [i, leaseMs] of leasesMs.entries()) {
      const pools = systems.map((s) => new Pool(ctx, s, `c${leaseMs}`, leaseMs));
      const samples = new Map<SystemName, FailoverRound[]>(systems.map((s) => [s, []]));
      try {
        for (let r = 1; r <= crashRounds[i]!; r++) for (const p of pools) samples.get(p.system)!.push(await crashRound(ctx, p, r, crashRounds[i]!));
      } finally {
        await Promise.all(pools.map((p) => p.stop()));
      }
      const regent = failoverOf(samples.get("regent")!, pools[0]!.renewMs);
      const et = samples.has("etcd") ? failoverOf(samples.get("etcd")!, pools[1]!.renewMs) : null;
      failover.push({ leaseMs, regent, etcd: et, ratio: et ? ratios(regent.failoverMs, et.failoverMs) : null });
    }

    return {
      benchmark: "compare",
      settings: { quick, candidates: CANDIDATES, handoverRounds, handoverWarmup, leasesMs, crashRounds },
      versions: { etcd: etcdBin ? etcdVersion(etcdBin) : null, etcd3Client: etcd3ClientVersion() },
      etcdSkipped,
      handover,
      failover,
    };
  } finally {
    await Promise.all([...registry].map((c) => c.stop()));
    await nats?.stop();
    await etcd?.stop();
  }
}

/** How long `c` has watched `leader`'s term `token` (since its first `leader-changed` naming it), on the shared monotonic clock. */
function watchedFor(c: RegentProcess, leader: RegentProcess, token: number | undefined): number {
  const seen = c.events.find((e) => e.type === "leader-changed" && e.leader === leader.id && e.token === token);
  return seen ? monotonicNowMs() - seen.t : -1;
}
