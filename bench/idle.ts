/**
 * Idle cost of regent's processes:
 *  - a `regent elect --json` process (one election, lease 10 s, default
 *    renew lease/3) that holds the lease on a local nats-server, measured over
 *    an idle window (default 20 s) after it was elected and renewed once: CPU
 *    from /proc/<pid>/stat (utime + stime), RSS sampled every second, and the
 *    same for nats-server;
 *  - the `regent node` processes of the light supercluster (shipped regions/,
 *    2 per region; 1 quick), over the same window once every region has a
 *    leader and there is a global leader;
 *  - a bare `node` process (an interval timer, nothing imported): the floor
 *    Node itself sets.
 *
 * The processes are what bin/regent.js starts: compiled dist/ when it is
 * fresh (built first if stale, except in a quick run), so no TypeScript loader is measured;
 * `childProcesses` would show tsx's esbuild service otherwise.
 */
import { execFileSync, spawn } from "node:child_process";
import { CandidateProcess } from "../src/launcher/candidates.js";
import { startTestHarness, testRegions, type TestHarness } from "../test/harness/harness.js";
import { sleep, startNatsServer, type NatsServerHandle } from "../src/launcher/nats-launcher.js";
import { monotonicNowMs } from "../src/util/clock.js";
import { procCpuMs, procRssMiB } from "./proc.js";
import { round, summarize, type Stats } from "./stats.js";

type BuildScript = { distIsFresh(): boolean; build(): void };
/** scripts/build.mjs (plain JavaScript, untyped): measure the compiled processes, building dist/ first when stale. */
async function ensureDist(log: (l: string) => void, build: boolean): Promise<boolean> {
  const b = (await import(new URL("../scripts/build.mjs", import.meta.url).href)) as BuildScript;
  if (build && !b.distIsFresh()) {
    log("idle: dist/ is stale; building it (npm run build) so the compiled processes are measured");
    try {
      b.build();
    } catch (err) {
      log(`idle: build failed (${(err as Error).message}); measuring what bin/regent.js runs`);
    }
  }
  return b.distIsFresh();
}

export interface IdleOptions {
  windowMs?: number;
  leaseMs?: number;
  quick?: boolean;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface IdleResult {
  benchmark: "idle";
  settings: { quick: boolean; windowMs: number; leaseMs: number; renewMs: number };
  regent: { cpuCores: number; cpuMsPerSec: number; rssMiBEnd: number; rssMiBMax: number; childProcesses: number };
  nats: { cpuCores: number; rssMiBEnd: number };
  renewalsInWindow: number;
  /** `regent node` processes of the light supercluster, over the same window (absent in older results). */
  node?: { processes: number; cpuMsPerSec: Stats; rssMiBEnd: Stats; rssMiBMax: number; childProcesses: number };
  /** RSS of a bare node process (an interval timer, nothing imported). */
  bareNodeRssMiB?: number;
  /** Whether bin/regent.js ran compiled dist/ (false: TypeScript through tsx). */
  compiled?: boolean;
}

function childCount(pid: number): number {
  try {
    return execFileSync("ps", ["--ppid", String(pid), "-o", "pid="], { encoding: "utf8" }).trim().split("\n").filter(Boolean).length;
  } catch {
    return 0; // ps exits 1 when there are none
  }
}

/** Samples RSS of `pids` every second for `windowMs`; CPU over the window. */
async function sampleWindow(pids: number[], windowMs: number, signal?: AbortSignal) {
  const cpu0 = pids.map((p) => procCpuMs(p) ?? 0);
  const t0 = monotonicNowMs();
  const rssMax = pids.map(() => 0);
  while (monotonicNowMs() - t0 < windowMs) {
    pids.forEach((p, i) => (rssMax[i] = Math.max(rssMax[i]!, procRssMiB(p) ?? 0)));
    await sleep(Math.min(1_000, windowMs - (monotonicNowMs() - t0)), signal);
  }
  const w = monotonicNowMs() - t0;
  return pids.map((p, i) => {
    const rssEnd = procRssMiB(p) ?? 0;
    return { cpuMsPerSec: round((((procCpuMs(p) ?? 0) - cpu0[i]!) * 1000) / w, 2), rssEnd, rssMax: Math.max(rssMax[i]!, rssEnd), children: childCount(p) };
  });
}

/** `regent node` processes of the light supercluster once settled, over `windowMs`. */
async function idleNodes(quick: boolean, windowMs: number, signal?: AbortSignal): Promise<NonNullable<IdleResult["node"]>> {
  const d: TestHarness = await startTestHarness(testRegions(quick ? { candidates: 1 } : {}), signal ? { signal } : {});
  try {
    await d.settled();
    await sleep(Math.min(2_000, windowMs / 4), signal);
    const s = await sampleWindow(d.nodes.map((n) => n.pid!), windowMs, signal);
    return {
      processes: s.length,
      cpuMsPerSec: summarize(s.map((x) => x.cpuMsPerSec), 2),
      rssMiBEnd: summarize(s.map((x) => x.rssEnd), 1),
      rssMiBMax: Math.max(...s.map((x) => x.rssMax)),
      childProcesses: Math.max(...s.map((x) => x.children)),
    };
  } finally {
    await d.stop();
  }
}

/** RSS of a bare node process: Node's own floor. */
async function bareNodeRss(signal?: AbortSignal): Promise<number> {
  const p = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  try {
    await sleep(1_000, signal);
    return procRssMiB(p.pid!) ?? 0;
  } finally {
    p.kill("SIGKILL");
  }
}

export async function runIdleBench(opts: IdleOptions = {}): Promise<IdleResult> {
  const quick = opts.quick ?? false;
  const windowMs = opts.windowMs ?? (quick ? 1_000 : 20_000);
  const leaseMs = opts.leaseMs ?? 10_000;
  const renewMs = Math.floor(leaseMs / 3);
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  let server: NatsServerHandle | undefined;
  let c: CandidateProcess | undefined;
  // Not in a quick (smoke) run: rewriting dist/ under other tests' running processes is not worth it.
  const compiled = await ensureDist(log, !quick);
  try {
    server = await startNatsServer({ jetstream: true, ...(opts.signal ? { signal: opts.signal } : {}) });
    c = new CandidateProcess({ id: "idle", servers: [server.url], key: "idle.leader", bucket: "idle", leaseMs });
    await c.waitForEvent((e) => e.type === "elected", { timeoutMs: 30_000 });
    await c.waitForEvent((e) => e.type === "renewed", { timeoutMs: 30_000 });
    const pid = c.pid!;
    const natsPid = server.servers[0]!.pid!;
    // Let start-up garbage settle (one more renewal) before the window opens.
    await sleep(Math.min(2_000, windowMs / 4), opts.signal);
    const cpu0 = procCpuMs(pid)!;
    const ncpu0 = procCpuMs(natsPid)!;
    const t0 = monotonicNowMs();
    const mark = c.events.length;
    let rssMax = 0;
    while (monotonicNowMs() - t0 < windowMs) {
      rssMax = Math.max(rssMax, procRssMiB(pid) ?? 0);
      await sleep(Math.min(1_000, windowMs - (monotonicNowMs() - t0)), opts.signal);
    }
    const w = monotonicNowMs() - t0;
    const cpu = procCpuMs(pid)! - cpu0;
    const ncpu = procCpuMs(natsPid)! - ncpu0;
    const rssEnd = procRssMiB(pid) ?? 0;
    const r: IdleResult = {
      benchmark: "idle",
      settings: { quick, windowMs: round(w, 0), leaseMs, renewMs },
      regent: {
        cpuCores: round(cpu / w, 4),
        cpuMsPerSec: round((cpu * 1000) / w, 2),
        rssMiBEnd: rssEnd,
        rssMiBMax: Math.max(rssMax, rssEnd),
        childProcesses: childCount(pid),
      },
      nats: { cpuCores: round(ncpu / w, 4), rssMiBEnd: procRssMiB(natsPid) ?? 0 },
      renewalsInWindow: c.events.slice(mark).filter((e) => e.type === "renewed").length,
      compiled,
    };
    await c.stop();
    r.node = await idleNodes(quick, windowMs, opts.signal);
    r.bareNodeRssMiB = await bareNodeRss(opts.signal);
    log(
      `idle: regent elect ${r.regent.cpuMsPerSec} ms CPU/s, RSS ${r.regent.rssMiBEnd} MiB; regent node RSS median ${r.node.rssMiBEnd.median} (max ${r.node.rssMiBMax}) MiB; ` +
        `bare node ${r.bareNodeRssMiB} MiB; nats-server ${round(r.nats.cpuCores * 1000, 2)} ms CPU/s, RSS ${r.nats.rssMiBEnd} MiB`,
    );
    return r;
  } finally {
    await c?.stop();
    await server?.stop();
  }
}
