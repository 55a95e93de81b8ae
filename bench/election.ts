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
import { AbortedError } from "../src/errors.js";
import { CandidateProcess, type CandidateEvent, type RegentProcess } from "../src/launcher/candidates.js";
import { findNatsServer, sleep, startNatsServer, type NatsServerHandle } from "../src/launcher/nats-launcher.js";
import { monotonicNowMs } from "../src/util/clock.js";
import { formatStatsTable, round, summarize, type Stats, type StatsRow } from "./stats.js";

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

export type HandoverRound = { round: number; from: string; to: string; token: number; deposedToElectedMs: number; resignToElectedMs: number };
/** `lastRenewAgoMs`: how long before the kill the leader's last renewal was acknowledged; failover ≈ lease − that. */
export type FailoverRound = { round: number; killed: string; successor: string; token: number; failoverMs: number; ratio: number; lastRenewAgoMs: number };
export type MachineInfo = ReturnType<typeof machineInfo>;
export interface ElectionBenchResult {
  benchmark: "election";
  date: string;
  durationS: number;
  command: string;
  machine: MachineInfo;
  settings: { quick: boolean; candidates: number; handoverRounds: number; leasesMs: number[]; crashRounds: number[] };
  handover: { leaseMs: number; rounds: HandoverRound[]; deposedToElectedMs: Stats; resignToElectedMs: Stats };
  failover: { leaseMs: number; renewMs: number; rounds: FailoverRound[]; failoverMs: Stats; ratio: Stats }[];
  outFile: string | null;
}

const CANDIDATES = 3;
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

// ---- waiting on candidate events ---------------------------------------------

/** Last events (and stderr of the dead) of each candidate, for error messages. */
export function describe(cands: readonly RegentProcess[]): string {
  const ev = (e: CandidateEvent) => `${e.type}${e.leader !== undefined ? `:${e.leader}` : ""}${e.token != null ? `#${e.token}` : ""}`;
  const state = (c: RegentProcess) => (c.running ? "running" : `exited ${c.proc.exitCode ?? c.proc.signalCode}\n    stderr: ${c.stderr.slice(-600).trim()}\n   `);
  const line = (c: RegentProcess) => `  ${c.id} [${state(c)}] ${c.events.slice(-6).map(ev).join(" ")}`;
  return cands.map(line).join("\n");
}

/**
 * Resolves with `probe()`'s first defined value, re-probing whenever one of
 * `cands` prints or exits. Unlike `waitUntil`, it honours an AbortSignal (so
 * SIGINT tears down promptly) and leaves no timer behind. A throwing probe
 * rejects at once: a candidate that died unexpectedly should not cost a timeout.
 */
export function until<T>(cands: readonly RegentProcess[], probe: () => T | undefined, timeoutMs: number, what: string, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const offs: (() => unknown)[] = [];
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      offs.forEach((off) => off());
      signal?.removeEventListener("abort", onAbort);
      fn();
    };
    const onAbort = () => finish(() => reject(new AbortedError(`${what}: aborted`, { cause: signal?.reason })));
    const check = () => {
      let v: T | undefined;
      try {
        v = probe();
      } catch (err) {
        return finish(() => reject(err));
      }
      if (v !== undefined) finish(() => resolve(v));
    };
    const timer = setTimeout(() => finish(() => reject(new Error(`${what}: not reached within ${timeoutMs} ms\n${describe(cands)}`))), timeoutMs);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    for (const c of cands) offs.push(c.onChange(check));
    check();
  });
}

/** The candidates of one election (one key, one lease length); replacements get fresh ids. */
class Pool {
  readonly all: CandidateProcess[] = [];
  /** Killed on purpose: their exit is not an error. */
  readonly killed = new Set<CandidateProcess>();
  private n = 0;
  // Explicit renew interval (today's default, lease/3), so the recorded figure is the one that ran.
  readonly renewMs: number;
  constructor(private readonly ctx: Ctx, readonly name: string, readonly leaseMs: number) {
    this.renewMs = Math.floor(leaseMs / 3);
    for (let i = 0; i < CANDIDATES; i++) this.spawn();
  }

  spawn(): CandidateProcess {
    const { leaseMs, renewMs } = this;
    const c = new CandidateProcess({ id: `${this.name}-${++this.n}`, servers: [this.ctx.server.url], key: `bench.${this.name}`, bucket: "bench", leaseMs, renewMs });
    this.all.push(c);
    this.ctx.registry.add(c);
    return c;
  }

  get live(): CandidateProcess[] {
    return this.all.filter((c) => !this.killed.has(c));
  }

  assertAlive(): void {
    const dead = this.live.filter((c) => !c.running);
    if (dead.length) throw new Error(`candidate exited unexpectedly:\n${describe(dead)}`);
  }

  /**
   * The single leader, once every follower's latest `leader-changed` names it
   * with its current token (so each has watched this term and will race for
   * the next), and once it has renewed `renewals` times in this term.
   */
  steadyLeader(renewals: number): CandidateProcess | undefined {
    this.assertAlive();
    const leaders = this.live.filter((c) => c.leading);
    if (leaders.length !== 1) return undefined;
    const l = leaders[0]!;
    const token = l.token;
    const sees = (c: CandidateProcess) => {
      const v = c.events.findLast((e) => e.type === "leader-changed");
      return v?.leader === l.id && v.token === token;
    };
    if (!this.live.every((c) => c === l || sees(c))) return undefined;
    // A follower takes a release in milliseconds once it trusts the term: it
    // saw it start, or has watched it for a full lease (docs/safety.md, R9).
    // Followers that lost the race into it trust it only after the lease, so
    // measure handovers of terms some follower trusts, as in steady state.
    if (!this.live.some((c) => c !== l && watchedFor(c, l, token) >= this.leaseMs + 100)) return undefined;
    const term = l.events.slice(l.events.findLastIndex((e) => e.type === "elected"));
    return term.filter((e) => e.type === "renewed" && e.token === token).length >= renewals ? l : undefined;
  }

  stop = () => Promise.all(this.all.map((c) => c.stop()));
}

/** Earliest `elected` among `cands` after the event index recorded in `from`. */
export function firstElected<C extends RegentProcess>(cands: readonly C[], from: Map<C, number>): { c: C; e: CandidateEvent } | undefined {
  let best: { c: C; e: CandidateEvent } | undefined;
  for (const c of cands) {
    const e = c.events.slice(from.get(c) ?? 0).find((x) => x.type === "elected");
    if (e && (!best || e.t < best.e.t)) best = { c, e };
  }
  return best;
}

// ---- the two experiments -----------------------------------------------------

/** `registry`: every candidate ever spawned, so the final teardown misses none. */
type Ctx = { server: NatsServerHandle; registry: Set<CandidateProcess>; log: (line: string) => void; signal: AbortSignal | undefined };

async function handoverPhase(ctx: Ctx, leaseMs: number, rounds: number): Promise<ElectionBenchResult["handover"]> {
  const pool = new Pool(ctx, "handover", leaseMs);
  const samples: HandoverRound[] = [];
  try {
    for (let r = 1; r <= rounds; r++) {
      const leader = await until(pool.live, () => pool.steadyLeader(0), 30_000 + 3 * leaseMs, `handover ${r}: a leader all see`, ctx.signal);
      const others = pool.live.filter((c) => c !== leader);
      const from = new Map(pool.live.map((c) => [c, c.events.length] as const));
      const sentAt = monotonicNowMs();
      leader.send("resign");
      // A failed release would leave successors waiting out the lease: give that room so it shows up as a slow sample, not a crash.
      const done = () => {
        pool.assertAlive();
        const [d, s] = [leader.events.slice(from.get(leader)).find((e) => e.type === "deposed"), firstElected(others, from)];
        return d && s ? ([d, s] as const) : undefined;
      };
      const [dep, succ] = await until(pool.live, done, 3 * leaseMs + 10_000, `handover ${r}: successor of ${leader.id}`, ctx.signal);
      if (dep.reason !== "resigned") throw new Error(`handover ${r}: ${leader.id} deposed for "${dep.reason}", expected "resigned"`);
      const [deposedToElectedMs, resignToElectedMs] = [round(succ.e.t - dep.t), round(succ.e.t - sentAt)];
      const s: HandoverRound = { round: r, from: leader.id, to: succ.c.id, token: succ.e.token!, deposedToElectedMs, resignToElectedMs };
      samples.push(s);
      ctx.log(`handover ${r}/${rounds}: ${s.from} → ${s.to} in ${s.deposedToElectedMs.toFixed(1)} ms (${s.resignToElectedMs.toFixed(1)} ms from resign)`);
    }
  } finally {
    await pool.stop();
  }
  const deposedToElectedMs = summarize(samples.map((s) => s.deposedToElectedMs));
  return { leaseMs, rounds: samples, deposedToElectedMs, resignToElectedMs: summarize(samples.map((s) => s.resignToElectedMs)) };
}

async function crashPhase(ctx: Ctx, leaseMs: number, rounds: number): Promise<ElectionBenchResult["failover"][number]> {
  const pool = new Pool(ctx, `crash-${leaseMs}`, leaseMs);
  const samples: FailoverRound[] = [];
  try {
    for (let r = 1; r <= rounds; r++) {
      // Steady state: a replacement that has not yet seen the leader, or a
      // leader that never renewed, would measure start-up, not failover.
      const steady = () => until(pool.live, () => pool.steadyLeader(2), 30_000 + 5 * leaseMs, `crash ${leaseMs}/${r}: steady leader`, ctx.signal);
      await steady();
      // Then kill at a uniformly random phase of the renew cycle: real crashes
      // are not aligned with renewals, and killing right after the renewal we
      // just waited for would always measure the worst case, a full lease.
      await sleep(Math.random() * pool.renewMs, ctx.signal);
      const leader = await steady(); // normally at once; re-checks nothing changed during the pause
      const survivors = pool.live.filter((c) => c !== leader);
      const from = new Map(survivors.map((c) => [c, c.events.length] as const));
      const lastRenew = leader.events.findLast((e) => e.type === "renewed")!.t;
      pool.killed.add(leader);
      const killedAt = await leader.signal("SIGKILL");
      const what = `crash ${leaseMs}/${r}: successor of ${leader.id}`;
      const succ = await until(survivors, () => (pool.assertAlive(), firstElected(survivors, from)), 3 * leaseMs + 10_000, what, ctx.signal);
      const failoverMs = succ.e.t - killedAt;
      const [ratio, lastRenewAgoMs] = [round(failoverMs / leaseMs, 4), round(killedAt - lastRenew)];
      const s: FailoverRound = { round: r, killed: leader.id, successor: succ.c.id, token: succ.e.token!, failoverMs: round(failoverMs), ratio, lastRenewAgoMs };
      samples.push(s);
      ctx.log(`crash ${leaseMs} ms ${r}/${rounds}: ${s.killed} killed → ${s.successor} in ${s.failoverMs.toFixed(0)} ms (×${s.ratio.toFixed(3)} lease)`);
      pool.spawn(); // always three candidates
    }
  } finally {
    await pool.stop();
  }
  const failoverMs = summarize(samples.map((s) => s.failoverMs));
  return { leaseMs, renewMs: pool.renewMs, rounds: samples, failoverMs, ratio: summarize(samples.map((s) => s.ratio), 4) };
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

  const registry = new Set<CandidateProcess>();
  let server: NatsServerHandle | undefined;
  try {
    server = await startNatsServer({ jetstream: true, ...(opts.signal ? { signal: opts.signal } : {}) });
    log(`nats-server ${machine.natsServer} at ${server.url}; ${CANDIDATES} candidates per run`);
    const ctx: Ctx = { server, registry, log, signal: opts.signal };
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

/** How long `c` has watched `leader`'s term `token` (since its first `leader-changed` naming it), on the shared monotonic clock. */
function watchedFor(c: CandidateProcess, leader: CandidateProcess, token: number | undefined): number {
  const seen = c.events.find((e) => e.type === "leader-changed" && e.leader === leader.id && e.token === token);
  return seen ? monotonicNowMs() - seen.t : -1;
}
