/**
 * The process under test of the scale benchmark: N concurrent elections in
 * this one process, one candidate each (so this process holds and renews all
 * N leases), every election its own key, spread over buckets of `perBucket`
 * keys on one nats-server. Each LeaseStore is wrapped to time every renewal
 * (`update`, from the call, i.e. the send, to its success) and count KV
 * operations. After every election is leader and a warm-up, it measures one
 * window and prints one JSON line (a {@link ScaleWorkerResult}) on stdout;
 * progress goes to stderr.
 *
 *   node --import tsx bench/scale-worker.ts --servers URL --n N [--per-bucket K]
 *        [--lease-ms L] [--warmup-ms W] [--window-ms M] [--nats-pid P] [--monitor URL]
 *        [--profile-out FILE.cpuprofile] [--heap-profile-out FILE.heapprofile]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { dirname } from "node:path";
import { pathToFileURL } from "node:url";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { connectNats } from "../src/util/nats-connect.js";
import { startElection, type Election } from "../src/election/election.js";
import { NatsLeaseStore } from "../src/lease/nats-store.js";
import type { CallOptions, LeaseStore, StoreEntry, WatchOptions, WatchSubscriber } from "../src/lease/store.js";
import { procCpuMs, procRssMiB } from "./proc.js";
import { round, summarize, type Stats } from "./stats.js";

export interface ScaleWorkerResult {
  n: number;
  buckets: number;
  perBucket: number;
  leaseMs: number;
  renewMs: number;
  /** From the first startElection to every election being leader (null: not all within the start timeout). */
  startupMs: number | null;
  electedAtStart: number;
  windowMs: number;
  /** Successful renewals in the window: send → success, ms. */
  renewLatencyMs: Stats | null;
  renewals: { ok: number; failed: number; expectedPerSec: number };
  /** Store operations per second in the window, by kind (a conditional write's internal retries are not counted separately). */
  opsPerSec: { total: number; get: number; create: number; update: number; delete: number; watch: number };
  /** Core messages into nats-server per second (varz in_msgs), every JetStream API call, ack and delivery included. */
  natsInMsgsPerSec: number | null;
  regent: { cpuCores: number; rssMiB: number; heapUsedMiB: number };
  nats: { cpuCores: number; rssMiB: number } | null;
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** Elections deposed during the window (any reason), and leaders at its end. */
  deposedInWindow: number;
  leadersAtEnd: number;
  errorsInWindow: Record<string, number>;
  stalls: { count: number; maxMs: number };
}

type Op = "get" | "create" | "update" | "delete" | "watch";

class Metrics {
  ops: Record<Op, number> = { get: 0, create: 0, update: 0, delete: 0, watch: 0 };
  renewOk = 0;
  renewFailed = 0;
  latencies: number[] = [];
  errors: Record<string, number> = {};
  reset(): void {
    this.ops = { get: 0, create: 0, update: 0, delete: 0, watch: 0 };
    this.renewOk = this.renewFailed = 0;
    this.latencies = [];
    this.errors = {};
  }
}

/** Forwards to the real store, timing `update` (the renewal) and counting every call. */
class TimedStore implements LeaseStore {
  readonly name: string;
  constructor(
    private readonly inner: LeaseStore,
    private readonly m: Metrics,
  ) {
    this.name = inner.name;
  }
  get(key: string, opts?: CallOptions): Promise<StoreEntry | null> {
    this.m.ops.get++;
    return this.inner.get(key, opts);
  }
  create(key: string, value: Uint8Array, opts?: CallOptions): Promise<number> {
    this.m.ops.create++;
    return this.inner.create(key, value, opts);
  }
  async update(key: string, value: Uint8Array, expectedRevision: number, opts?: CallOptions): Promise<number> {
    this.m.ops.update++;
    const t0 = performance.now();
    try {
      const rev = await this.inner.update(key, value, expectedRevision, opts);
      this.m.latencies.push(performance.now() - t0);
      this.m.renewOk++;
      return rev;
    } catch (err) {
      this.m.renewFailed++;
      const name = (err as Error)?.name ?? "Error";
      this.m.errors[`update:${name}`] = (this.m.errors[`update:${name}`] ?? 0) + 1;
      throw err;
    }
  }
  delete(key: string, expectedRevision: number, opts?: CallOptions): Promise<void> {
    this.m.ops.delete++;
    return this.inner.delete(key, expectedRevision, opts);
  }
  watch(filter: string, opts: WatchOptions): AsyncIterable<StoreEntry> {
    this.m.ops.watch++;
    return this.inner.watch(filter, opts);
  }
  keys(filter: string, opts?: CallOptions): Promise<string[]> {
    return this.inner.keys(filter, opts);
  }
  /** The NATS store's callback watch, which elections use when the store has it. */
  subscribe(filter: string, sink: Parameters<WatchSubscriber["subscribe"]>[1]): () => void {
    this.m.ops.watch++;
    return (this.inner as LeaseStore & WatchSubscriber).subscribe(filter, sink);
  }
}

async function varzInMsgs(monitor: string | undefined): Promise<number | null> {
  if (!monitor) return null;
  try {
    const r = await fetch(`${monitor}/varz`, { signal: AbortSignal.timeout(2_000) });
    return ((await r.json()) as { in_msgs?: number }).in_msgs ?? null;
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (l: string) => process.stderr.write(`scale-worker: ${l}\n`);

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    strict: true,
    options: {
      servers: { type: "string" },
      n: { type: "string" },
      "per-bucket": { type: "string" },
      "lease-ms": { type: "string" },
      "warmup-ms": { type: "string" },
      "window-ms": { type: "string" },
      "start-timeout-ms": { type: "string" },
      "nats-pid": { type: "string" },
      monitor: { type: "string" },
      "profile-out": { type: "string" },
      "heap-profile-out": { type: "string" },
    },
  });
  const n = Number(v.n ?? 1000);
  const perBucket = Number(v["per-bucket"] ?? n);
  const leaseMs = Number(v["lease-ms"] ?? 10_000);
  const warmupMs = Number(v["warmup-ms"] ?? leaseMs);
  const windowMs = Number(v["window-ms"] ?? 30_000);
  const startTimeoutMs = Number(v["start-timeout-ms"] ?? 180_000);
  const natsPid = v["nats-pid"] ? Number(v["nats-pid"]) : null;
  const servers = (v.servers ?? "nats://127.0.0.1:4222").split(",");

  const nc = await connectNats(servers, "regent-scale");
  const m = new Metrics();
  const buckets = Math.ceil(n / perBucket);
  const stores: LeaseStore[] = [];
  const tb = performance.now();
  for (let b = 0; b < buckets; b += 50) {
    // Open in slices of 50: thousands of bucket creations at once only time out.
    const slice = Array.from({ length: Math.min(50, buckets - b) }, async (_, j) => new TimedStore(await NatsLeaseStore.open(nc, { bucket: `scale-${b + j}` }), m));
    stores.push(...(await Promise.all(slice)));
  }
  log(`${buckets} bucket(s) open in ${Math.round(performance.now() - tb)} ms`);

  const elections: Election[] = [];
  let elected = 0;
  let deposed = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const e = startElection({ store: stores[Math.floor(i / perBucket)]!, key: `e.${i}`, id: `w${i}`, leaseMs });
    e.on((ev) => {
      if (ev.type === "elected") elected++;
      else if (ev.type === "deposed") deposed++;
      else if (ev.type === "error") m.errors[`${ev.op}:${(ev.error as Error)?.name ?? "Error"}`] = (m.errors[`${ev.op}:${(ev.error as Error)?.name ?? "Error"}`] ?? 0) + 1;
    });
    elections.push(e);
  }
  let startupMs: number | null = null;
  while (performance.now() - t0 < startTimeoutMs) {
    const leaders = elections.filter((e) => e.isLeader()).length;
    if (leaders === n) {
      startupMs = round(performance.now() - t0, 0);
      break;
    }
    log(`${leaders}/${n} leaders after ${Math.round(performance.now() - t0)} ms`);
    await sleep(1_000);
  }
  const electedAtStart = elections.filter((e) => e.isLeader()).length;
  log(`startup: ${electedAtStart}/${n} leaders${startupMs !== null ? ` in ${startupMs} ms` : " (timed out)"}; warm-up ${warmupMs} ms`);
  await sleep(warmupMs);

  // ---- the window ----
  // Optional V8 CPU profile of the window only (start-up excluded), via the inspector.
  const profileOut = v["profile-out"];
  // And a sampling heap profile of the window: everything allocated in it, collected or not (a sample every 32 KB on average).
  const heapOut = v["heap-profile-out"];
  let session: Session | undefined;
  const post = (method: string, params?: object) =>
    new Promise<unknown>((res, rej) => session!.post(method, params ?? {}, (err, r) => (err ? rej(err) : res(r))));
  if (profileOut || heapOut) {
    session = new Session();
    session.connect();
  }
  if (heapOut) await post("HeapProfiler.startSampling", { samplingInterval: 32_768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  if (profileOut) {
    await post("Profiler.enable");
    await post("Profiler.setSamplingInterval", { interval: 1000 });
    await post("Profiler.start");
  }
  m.reset();
  deposed = 0;
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  const cpu0 = process.cpuUsage();
  const nats0 = natsPid ? procCpuMs(natsPid) : null;
  const in0 = await varzInMsgs(v.monitor);
  const w0 = performance.now();
  await sleep(windowMs);
  const w = performance.now() - w0;
  const cpu = process.cpuUsage(cpu0);
  const nats1 = natsPid ? procCpuMs(natsPid) : null;
  const in1 = await varzInMsgs(v.monitor);
  eld.disable();
  if (session && profileOut) {
    const { profile } = (await post("Profiler.stop")) as { profile: unknown };
    mkdirSync(dirname(profileOut), { recursive: true });
    writeFileSync(profileOut, JSON.stringify(profile));
  }
  if (session && heapOut) {
    const { profile } = (await post("HeapProfiler.stopSampling")) as { profile: unknown };
    mkdirSync(dirname(heapOut), { recursive: true });
    writeFileSync(heapOut, JSON.stringify(profile));
  }
  session?.disconnect();
  const mem = process.memoryUsage();
  const leadersAtEnd = elections.filter((e) => e.isLeader()).length;
  const ops = m.ops;
  const perSec = (x: number) => round((x * 1000) / w, 1);
  const timing = elections[0]!.timing;
  const result: ScaleWorkerResult = {
    n,
    buckets,
    perBucket,
    leaseMs,
    renewMs: timing.renewMs,
    startupMs,
    electedAtStart,
    windowMs: round(w, 0),
    renewLatencyMs: m.latencies.length ? summarize(m.latencies, 2) : null,
    renewals: { ok: m.renewOk, failed: m.renewFailed, expectedPerSec: round((n * 1000) / timing.renewMs, 1) },
    opsPerSec: {
      total: perSec(ops.get + ops.create + ops.update + ops.delete + ops.watch),
      get: perSec(ops.get),
      create: perSec(ops.create),
      update: perSec(ops.update),
      delete: perSec(ops.delete),
      watch: perSec(ops.watch),
    },
    natsInMsgsPerSec: in0 !== null && in1 !== null ? perSec(in1 - in0) : null,
    regent: { cpuCores: round((cpu.user + cpu.system) / 1000 / w, 3), rssMiB: round(mem.rss / 2 ** 20, 1), heapUsedMiB: round(mem.heapUsed / 2 ** 20, 1) },
    nats: natsPid && nats0 !== null && nats1 !== null ? { cpuCores: round((nats1 - nats0) / w, 3), rssMiB: procRssMiB(natsPid) ?? 0 } : null,
    eventLoopDelayMs: { p50: round(eld.percentile(50) / 1e6, 1), p99: round(eld.percentile(99) / 1e6, 1), max: round(eld.max / 1e6, 1) },
    deposedInWindow: deposed,
    leadersAtEnd,
    errorsInWindow: m.errors,
    stalls: elections[0]!.stallStats(),
  };
  process.stdout.write(JSON.stringify(result) + "\n");
  // No graceful stop: N resignations would only measure shutdown. The parent stops the server.
  process.exit(0);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
