/**
 * Idle cost of one regent participant: a `regent elect --json` process (one
 * election, lease 10 s, default renew lease/3) that holds the lease on a
 * local nats-server, measured over an idle window (default 20 s) after it
 * was elected and renewed once: CPU from /proc/<pid>/stat (utime + stime),
 * RSS sampled every second, and the same for nats-server.
 *
 * The process runs the TypeScript sources through tsx (bin/regent.js), as
 * every regent process in this repository does; that loader is part of the
 * measured RSS.
 */
import { execFileSync } from "node:child_process";
import { CandidateProcess } from "../src/launcher/candidates.js";
import { sleep, startNatsServer, type NatsServerHandle } from "../src/launcher/nats-launcher.js";
import { monotonicNowMs } from "../src/util/clock.js";
import { procCpuMs, procRssMiB } from "./proc.js";
import { round } from "./stats.js";

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
}

function childCount(pid: number): number {
  try {
    return execFileSync("ps", ["--ppid", String(pid), "-o", "pid="], { encoding: "utf8" }).trim().split("\n").filter(Boolean).length;
  } catch {
    return 0; // ps exits 1 when there are none
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
    };
    log(`idle: regent elect ${r.regent.cpuMsPerSec} ms CPU/s, RSS ${r.regent.rssMiBEnd} MiB; nats-server ${round(r.nats.cpuCores * 1000, 2)} ms CPU/s, RSS ${r.nats.rssMiBEnd} MiB`);
    return r;
  } finally {
    await c?.stop();
    await server?.stop();
  }
}
