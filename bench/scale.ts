/**
 * Scale: N concurrent elections in one process (bench/scale-worker.ts) on a
 * fresh single nats-server per case, R1 buckets, lease 10 s. A case is N and
 * a bucket layout (`perBucket` keys per bucket: N = one shared bucket, 1 = a
 * bucket per election). Optionally profiles the worker's window (CPU and heap, via the inspector).
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startNatsServer, type NatsServerHandle } from "../src/launcher/nats-launcher.js";
import { tsxImport } from "./compare.js";
import type { ScaleWorkerResult } from "./scale-worker.js";
import { round } from "./stats.js";

export interface ScaleCase {
  n: number;
  /** Keys per bucket: `n` = every election in one bucket, 1 = a bucket per election. */
  perBucket: number;
  /** Label of the layout in reports. */
  layout: string;
}

export interface ScaleOptions {
  cases?: ScaleCase[];
  leaseMs?: number;
  warmupMs?: number;
  windowMs?: number;
  /** Give up waiting for every election to lead after this long, and measure anyway. */
  startTimeoutMs?: number;
  quick?: boolean;
  /** Write a V8 CPU profile and a sampling heap profile of each worker's measurement window into this directory. */
  cpuProfDir?: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export type ScaleCaseResult = ScaleWorkerResult & {
  layout: string;
  /** Renew p99 ≤ 50 ms and ≤ 0.5 core for the regent process, with every election leading. */
  meetsGoal: boolean;
  /** regent CPU per 1,000 elections (cores). */
  cpuPer1kElections: number;
  error?: string;
};

export interface ScaleResult {
  benchmark: "scale";
  settings: { quick: boolean; leaseMs: number; warmupMs: number; windowMs: number; startTimeoutMs: number; goal: string };
  cases: ScaleCaseResult[];
}

const WORKER = fileURLToPath(new URL("./scale-worker.ts", import.meta.url));

/**
 * Every election's key in one bucket (the natural layout) at 1,000, 3,000,
 * 10,000 and 30,000 elections, to show how the cost grows with N and where
 * it stops, then 1,000 with a bucket per election to compare the layouts at
 * the same N.
 */
export const DEFAULT_SCALE_CASES: ScaleCase[] = [
  { n: 1000, perBucket: 1000, layout: "one bucket" },
  { n: 3000, perBucket: 3000, layout: "one bucket" },
  { n: 10000, perBucket: 10000, layout: "one bucket" },
  // Past what one event loop can renew (~0.05 core per 1,000 at 10,000): the first limit.
  { n: 30000, perBucket: 30000, layout: "one bucket" },
  { n: 1000, perBucket: 1, layout: "bucket per election" },
];

async function runCase(c: ScaleCase, o: Required<Pick<ScaleOptions, "leaseMs" | "warmupMs" | "windowMs" | "startTimeoutMs">> & ScaleOptions): Promise<ScaleWorkerResult> {
  let server: NatsServerHandle | undefined;
  try {
    server = await startNatsServer({ jetstream: true, ...(o.signal ? { signal: o.signal } : {}) });
    const m = server.servers[0]!;
    // A V8 CPU profile of the measurement window only (the worker starts and stops the profiler itself).
    const base = o.cpuProfDir ? join(o.cpuProfDir, `scale-${c.n}-per${c.perBucket}`) : "";
    const prof = o.cpuProfDir ? ["--profile-out", `${base}.cpuprofile`, "--heap-profile-out", `${base}.heapprofile`] : [];
    const args = [
      ...["--import", tsxImport(), WORKER],
      ...["--servers", server.url, "--n", String(c.n), "--per-bucket", String(c.perBucket), "--lease-ms", String(o.leaseMs)],
      ...["--warmup-ms", String(o.warmupMs), "--window-ms", String(o.windowMs), "--start-timeout-ms", String(o.startTimeoutMs)],
      ...["--nats-pid", String(m.pid), "--monitor", `http://127.0.0.1:${m.monitorPort}`, ...prof],
    ];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      err = (err + d.toString()).slice(-20_000);
      for (const l of d.toString().split("\n")) if (l.trim() && !/leaders after/.test(l)) o.log?.(`  ${l.trim()}`);
    });
    const onAbort = () => child.kill("SIGKILL");
    o.signal?.addEventListener("abort", onAbort, { once: true });
    const code = await new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    o.signal?.removeEventListener("abort", onAbort);
    const line = out.trim().split("\n").at(-1);
    if (code !== 0 || !line) throw new Error(`scale worker exited ${code}: ${err.slice(-2000)}`);
    return JSON.parse(line) as ScaleWorkerResult;
  } finally {
    await server?.stop();
  }
}

export async function runScaleBench(opts: ScaleOptions = {}): Promise<ScaleResult> {
  const quick = opts.quick ?? false;
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const o = {
    ...opts,
    log,
    leaseMs: opts.leaseMs ?? 10_000,
    warmupMs: opts.warmupMs ?? (quick ? 500 : 5_000),
    windowMs: opts.windowMs ?? (quick ? 2_000 : 15_000),
    startTimeoutMs: opts.startTimeoutMs ?? (quick ? 20_000 : 40_000),
  };
  const cases = opts.cases ?? (quick ? [{ n: 20, perBucket: 20, layout: "one bucket" }, { n: 20, perBucket: 1, layout: "bucket per election" }] : DEFAULT_SCALE_CASES);
  const results: ScaleCaseResult[] = [];
  for (const c of cases) {
    log(`scale: ${c.n} elections, ${c.layout} (${Math.ceil(c.n / c.perBucket)} bucket(s)), lease ${o.leaseMs} ms`);
    const r = await runCase(c, o);
    const meetsGoal = r.leadersAtEnd === r.n && r.renewLatencyMs !== null && r.renewLatencyMs.p99 <= 50 && r.regent.cpuCores <= 0.5;
    const x: ScaleCaseResult = { ...r, layout: c.layout, meetsGoal, cpuPer1kElections: round((r.regent.cpuCores * 1000) / r.n, 3) };
    log(
      `scale: ${c.n} × ${c.layout}: leaders ${r.leadersAtEnd}/${r.n}, renew p50 ${r.renewLatencyMs?.median ?? "-"} ms p99 ${r.renewLatencyMs?.p99 ?? "-"} ms, ` +
        `regent ${r.regent.cpuCores} cores ${r.regent.rssMiB} MiB, nats ${r.nats?.cpuCores ?? "-"} cores ${r.nats?.rssMiB ?? "-"} MiB, ${r.opsPerSec.total} ops/s`,
    );
    results.push(x);
  }
  return {
    benchmark: "scale",
    settings: { quick, leaseMs: o.leaseMs, warmupMs: o.warmupMs, windowMs: o.windowMs, startTimeoutMs: o.startTimeoutMs, goal: "renew p99 ≤ 50 ms and ≤ 0.5 core (regent process), every election leading" },
    cases: results,
  };
}
