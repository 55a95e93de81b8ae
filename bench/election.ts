/**
 * Election benchmark: three `regent elect --json` candidates, each its own OS
 * process, on one local nats-server. Measures
 *  - graceful handover: leader resigns → successor elected (from the resigner's
 *    `deposed` event, and from the moment we wrote `resign` on its stdin);
 *  - crash failover: leader SIGKILLed at a random point of its renew cycle →
 *    successor elected, per lease length, and as a fraction of the lease.
 * Every timestamp is the candidates' own `t` (shared CLOCK_MONOTONIC) or ours
 * from the same clock, so cross-process differences are real latencies.
 *
 *   node --import tsx bench/election.ts [--rounds N] [--rounds-crash N[,N…]]
 *        [--lease-ms L[,L…]] [--out FILE] [--quick]
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { RegentProcess } from "../src/launcher/candidates.js";
import { findNatsServer, startNatsServer, type NatsServerHandle } from "../src/launcher/nats-launcher.js";
import { failoverOf } from "./compare.js";
import { CANDIDATES, CandidatePool, crashRound, handoverRound, type FailoverRound, type HandoverRound, type PoolCtx } from "./pool.js";
import { formatStatsTable, round, summarize, type Stats, type StatsRow } from "./stats.js";

export { describe, firstElected, until } from "./pool.js";
export type { FailoverRound, HandoverRound };

export interface ElectionBenchOptions {
  /** Handover rounds (default 30; 2 in quick mode). */
  handoverRounds?: number;
  /** Lease lengths for the crash runs (default [2000, 10000]; [1000] in quick mode). Handover runs at the first. */
  leasesMs?: number[];
  /** Crash rounds: one count for every lease, or one per lease (default {@link defaultCrashRounds}). */
  crashRounds?: number | number[];
  /** 2 rounds of each at lease 1000 ms: a smoke run. Explicit options still win. */
  quick?: boolean;
  /** JSON result file; `null` writes nothing; default bench/results/election[-<lease>].json. */
  out?: string | null;
  /** Command line recorded in the results. */
  command?: string;
  signal?: AbortSignal;
  /** Progress lines (default: stderr, so stdout carries only the table). */
  log?: (line: string) => void;
}

export type MachineInfo = ReturnType<typeof machineInfo>;
export interface ElectionBenchResult {
  benchmark: "election";
  date: string;
  durationS: number;
  command: string;
  machine: MachineInfo;
  settings: { quick: boolean; candidates: number; handoverRounds: number; leasesMs: number[]; crashRounds: number[] };
  handover: { leaseMs: number; rounds: HandoverRound[]; deposedToElectedMs: Stats; resignToElectedMs: Stats };
  failover: ({ leaseMs: number } & ReturnType<typeof failoverOf>)[];
  outFile: string | null;
}

const RESULTS_DIR = fileURLToPath(new URL("./results/", import.meta.url));

/** 20 rounds at 2 s, 5 at 10 s: about 40 s of lease per lease length, 5–20 rounds. */
export function defaultCrashRounds(leaseMs: number): number {
  return Math.max(5, Math.min(20, Math.round(40_000 / leaseMs)));
}

export function machineInfo() {
  const cpus = os.cpus();
  let natsServer = "unknown";
  try {
    const v = execFileSync(findNatsServer(), ["--version"], { encoding: "utf8", timeout: 5_000 }).trim();
    natsServer = /v?\d+\.\d+\.\d+\S*/.exec(v)?.[0] ?? v;
  } catch {
    /* recorded as unknown; the benchmark itself will fail louder */
  }
  return {
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    node: process.version,
    natsServer,
    platform: `${os.platform()} ${os.release()}`,
    arch: os.arch(),
    totalMemGiB: round(os.totalmem() / 2 ** 30, 1),
    // A loaded machine inflates every figure; keep the context with them.
    loadavg: os.loadavg().map((x) => round(x, 2)),
  };
}

// ---- the two experiments (the pool and rounds are bench/pool.ts, shared with bench/compare.ts) ----

async function handoverPhase(ctx: PoolCtx, leaseMs: number, rounds: number): Promise<ElectionBenchResult["handover"]> {
  const pool = new CandidatePool(ctx, "regent", "handover", leaseMs);
  const samples: HandoverRound[] = [];
  try {
    for (let r = 1; r <= rounds; r++) samples.push(await handoverRound(ctx, pool, r, rounds));
  } finally {
    await pool.stop();
  }
  const deposedToElectedMs = summarize(samples.map((s) => s.deposedToElectedMs));
  return { leaseMs, rounds: samples, deposedToElectedMs, resignToElectedMs: summarize(samples.map((s) => s.resignToElectedMs)) };
}

async function crashPhase(ctx: PoolCtx, leaseMs: number, rounds: number): Promise<ElectionBenchResult["failover"][number]> {
  const pool = new CandidatePool(ctx, "regent", `crash-${leaseMs}`, leaseMs);
  const samples: FailoverRound[] = [];
  try {
    for (let r = 1; r <= rounds; r++) samples.push(await crashRound(ctx, pool, r, rounds));
  } finally {
    await pool.stop();
  }
  return { leaseMs, ...failoverOf(samples, pool.renewMs, leaseMs) };
}

// ---- entry points --------------------------------------------------------------

function defaultOut(leasesMs: number[]): string {
  return join(RESULTS_DIR, leasesMs.length === 1 ? `election-${leasesMs[0]}.json` : "election.json");
}

/** Runs the benchmark; always stops every candidate and the nats-server it started, also on error or abort. */
export async function runElectionBench(opts: ElectionBenchOptions = {}): Promise<ElectionBenchResult> {
  const quick = opts.quick ?? false;
  const leasesMs = opts.leasesMs ?? (quick ? [1_000] : [2_000, 10_000]);
  if (leasesMs.length === 0) throw new RangeError("at least one lease length is required");
  const handoverRounds = opts.handoverRounds ?? (quick ? 2 : 30);
  const cr = opts.crashRounds;
  const crashRounds = leasesMs.map((l, i) => (Array.isArray(cr) ? cr[i] ?? cr.at(-1) : cr) ?? (quick ? 2 : defaultCrashRounds(l)));
  const out = opts.out === undefined ? defaultOut(leasesMs) : opts.out;
  const log = opts.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const started = Date.now();
  const date = new Date(started).toISOString();
  const machine = machineInfo();

  const registry = new Set<RegentProcess>();
  let server: NatsServerHandle | undefined;
  try {
    server = await startNatsServer({ jetstream: true, ...(opts.signal ? { signal: opts.signal } : {}) });
    log(`nats-server ${machine.natsServer} at ${server.url}; ${CANDIDATES} candidates per run`);
    const ctx: PoolCtx = { natsUrl: server.url, registry, log, signal: opts.signal };
    const handover = await handoverPhase(ctx, leasesMs[0]!, handoverRounds);
    const failover: ElectionBenchResult["failover"] = [];
    for (const [i, l] of leasesMs.entries()) failover.push(await crashPhase(ctx, l, crashRounds[i]!));
    const result: ElectionBenchResult = {
      benchmark: "election",
      date,
      durationS: round((Date.now() - started) / 1000, 1),
      command: opts.command ?? `runElectionBench(${JSON.stringify({ quick, handoverRounds, leasesMs, crashRounds })})`,
      machine,
      settings: { quick, candidates: CANDIDATES, handoverRounds, leasesMs, crashRounds },
      handover,
      failover,
      outFile: out,
    };
    if (out) {
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
    }
    return result;
  } finally {
    await Promise.all([...registry].map((c) => c.stop()));
    await server?.stop();
  }
}

/** The stdout table for a result. */
export function formatElectionResult(r: ElectionBenchResult): string {
  const rows: StatsRow[] = [
    { label: `handover: deposed → elected (ms)`, stats: r.handover.deposedToElectedMs, digits: 1 },
    { label: `handover: resign sent → elected (ms)`, stats: r.handover.resignToElectedMs, digits: 1 },
  ];
  for (const f of r.failover) {
    rows.push({ label: `failover, lease ${f.leaseMs} ms (ms)`, stats: f.failoverMs, digits: 0 });
    rows.push({ label: `failover / lease, lease ${f.leaseMs} ms`, stats: f.ratio, digits: 3 });
  }
  const m = r.machine;
  return [
    `regent election benchmark — ${r.settings.candidates} candidate processes, one nats-server ${m.natsServer}`,
    `${m.cpuModel} (${m.cores} cores), node ${m.node}, ${m.platform}, ${r.date}`,
    `handover at lease ${r.handover.leaseMs} ms; failover = SIGKILL of a steady leader at a random renew phase (renew = lease/3)`,
    "",
    formatStatsTable(rows),
  ].join("\n");
}

function positiveInts(flag: string, raw: string[]): number[] {
  const parse = (s: string) => (/^\d+$/.test(s.trim()) && Number(s) > 0 ? Number(s) : NaN);
  const vals = raw.flatMap((s) => s.split(",")).map(parse);
  if (vals.some(Number.isNaN)) throw new RangeError(`${flag}: expected positive whole numbers (comma separated), got "${raw.join(",")}"`);
  return vals;
}

/** Parses the command line (see the header). */
export function parseElectionArgs(args: string[]): ElectionBenchOptions {
  const { values: v } = parseArgs({
    args,
    strict: true,
    options: {
      ...{ rounds: { type: "string" }, out: { type: "string" }, quick: { type: "boolean" } },
      ...{ "rounds-crash": { type: "string", multiple: true }, "lease-ms": { type: "string", multiple: true } },
    },
  });
  const opts: ElectionBenchOptions = { quick: v.quick ?? false };
  if (v.rounds !== undefined) opts.handoverRounds = positiveInts("--rounds", [v.rounds])[0]!;
  if (v["rounds-crash"]) opts.crashRounds = positiveInts("--rounds-crash", v["rounds-crash"]);
  if (v["lease-ms"]) opts.leasesMs = positiveInts("--lease-ms", v["lease-ms"]);
  if (v.out !== undefined) opts.out = v.out;
  return opts;
}

async function main(): Promise<void> {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  const command = ["node", ...process.execArgv, relative(process.cwd(), process.argv[1]!), ...process.argv.slice(2)].map(quote).join(" ");
  let opts: ElectionBenchOptions;
  try {
    opts = parseElectionArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench/election: ${(err as Error).message}\n`);
    process.exit(2);
  }
  // First SIGINT/SIGTERM: abort, let the finally blocks stop candidates and
  // the server. A second one exits at once (exit hooks SIGKILL the children).
  const ac = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      if (ac.signal.aborted) process.exit(130);
      process.stderr.write(`\n${sig}: stopping candidates and nats-server…\n`);
      ac.abort(new Error(sig));
    });
  }
  try {
    const r = await runElectionBench({ ...opts, command, signal: ac.signal });
    process.stdout.write(formatElectionResult(r) + "\n");
    if (r.outFile) {
      const rel = relative(process.cwd(), r.outFile);
      process.stdout.write(`\nresults: ${rel.startsWith("..") ? r.outFile : rel}\n`);
    }
    process.exitCode = 0;
  } catch (err) {
    // After an interrupt, candidates dying from the terminal's SIGINT is expected noise.
    process.stderr.write(ac.signal.aborted ? "interrupted; torn down\n" : `bench/election failed: ${(err as Error).stack ?? err}\n`);
    process.exitCode = ac.signal.aborted ? 130 : 1;
  }
  process.exit(); // don't wait on stray handles (e.g. a NATS reconnect timer) once torn down
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
