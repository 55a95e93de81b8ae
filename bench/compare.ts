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
import type { RegentProcess } from "../src/launcher/candidates.js";
import { startNatsServer, type NatsServerHandle } from "../src/launcher/nats-launcher.js";
import { ensureEtcd, etcdVersion, startEtcd, type EtcdHandle } from "./etcd.js";
import { CANDIDATES, CandidatePool, HOPS, crashRound, handoverRound, type FailoverRound, type HandoverRound, type PoolCtx, type SystemName } from "./pool.js";
import { round, summarize, type Stats } from "./stats.js";

export { tsxImport } from "./pool.js";
export type { SystemName };

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
  /** regent: each hop of the chain (bench/pool.ts, HOPS), over the rounds that printed all of them. */
  hops?: Record<string, Stats>;
}
export interface SystemFailover {
  renewMs: number;
  rounds: FailoverRound[];
  failoverMs: Stats;
  /** failover / lease. */
  ratio: Stats;
  /** regent: the parts of a failover (bench/pool.ts, FailoverRound), over the rounds that printed them. */
  parts?: { observedAfterKillMs: Stats; waitOverLeaseMs: Stats; casMs: Stats };
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

export function etcd3ClientVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    const pkg = require("etcd3/package.json") as { version: string };
    return pkg.version;
  } catch {
    return "not installed";
  }
}

export function ratios(regent: Stats, etcd: Stats): Ratios {
  const q = (a: number, b: number) => (b > 0 ? round(a / b, 3) : Number.NaN);
  return { median: q(regent.median, etcd.median), p99: q(regent.p99, etcd.p99), max: q(regent.max, etcd.max) };
}

function handoverOf(rounds: HandoverRound[]): SystemHandover {
  const h: SystemHandover = { rounds, deposedToElectedMs: summarize(rounds.map((s) => s.deposedToElectedMs)), resignToElectedMs: summarize(rounds.map((s) => s.resignToElectedMs)) };
  const traced = rounds.flatMap((s) => (s.hops ? [s.hops] : []));
  if (traced.length) h.hops = Object.fromEntries(HOPS.map((k) => [k, summarize(traced.map((x) => x[k]), 3)]));
  return h;
}
export function failoverOf(rounds: FailoverRound[], renewMs: number, leaseMs: number): SystemFailover {
  const f: SystemFailover = { renewMs, rounds, failoverMs: summarize(rounds.map((s) => s.failoverMs)), ratio: summarize(rounds.map((s) => s.ratio), 4) };
  const traced = rounds.filter((s) => s.waitMs !== undefined);
  if (traced.length) {
    f.parts = {
      observedAfterKillMs: summarize(traced.map((s) => s.observedAfterKillMs!)),
      waitOverLeaseMs: summarize(traced.map((s) => round(s.waitMs! - leaseMs, 3)), 3),
      casMs: summarize(traced.map((s) => s.casMs!)),
    };
  }
  return f;
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
    const ctx: PoolCtx = { natsUrl: nats.url, ...(etcd ? { etcdUrl: etcd.url } : {}), registry, log, signal: opts.signal };
    const handover: CompareResult["handover"] = [];
    const failover: CompareResult["failover"] = [];

    for (const leaseMs of leasesMs) {
      const pools = systems.map((s) => new CandidatePool(ctx, s, `h${leaseMs}`, leaseMs, "cmp"));
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
      const pools = systems.map((s) => new CandidatePool(ctx, s, `c${leaseMs}`, leaseMs, "cmp"));
      const samples = new Map<SystemName, FailoverRound[]>(systems.map((s) => [s, []]));
      try {
        for (let r = 1; r <= crashRounds[i]!; r++) for (const p of pools) samples.get(p.system)!.push(await crashRound(ctx, p, r, crashRounds[i]!));
      } finally {
        await Promise.all(pools.map((p) => p.stop()));
      }
      const regent = failoverOf(samples.get("regent")!, pools[0]!.renewMs, leaseMs);
      const et = samples.has("etcd") ? failoverOf(samples.get("etcd")!, pools[1]!.renewMs, leaseMs) : null;
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
