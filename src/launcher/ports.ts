/**
 * Process-level plumbing for the nats-server launcher: finding the binary,
 * the orphan registry, free loopback ports, polling and tiny HTTP-JSON reads
 * of the monitoring endpoint (stream leader lookups). Kept apart so the
 * launcher stays readable, and so tests can reuse {@link waitFor}.
 */
import type { ChildProcess } from "node:child_process";
import { accessSync, constants, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { delimiter, join } from "node:path";
import { AbortedError, LaunchFailedError } from "../errors.js";
import type { NatsServerHandle } from "./handle.js";
import { sleep } from "../util/timers.js";

export { sleep };

/** Loopback host every launched server binds to. */
export const LOOPBACK = "127.0.0.1";

/**
 * Returns `count` distinct ports that were free on 127.0.0.1 a moment ago.
 *
 * All sockets are held open at the same time so the kernel hands out distinct
 * ports, then released. Another process may grab one before nats-server binds
 * it (the usual race of this technique); the launcher detects the resulting
 * early exit and retries with new ports.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const srv = createServer();
      servers.push(srv);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          srv.once("error", reject);
          srv.listen(0, LOOPBACK, () => {
            const addr = srv.address();
            if (addr && typeof addr === "object") resolve(addr.port);
            else reject(new LaunchFailedError("could not read bound port"));
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this long (default 10 000 ms). */
  timeoutMs?: number;
  /** Pause between attempts (default 50 ms). */
  intervalMs?: number;
  /** Describes the condition in the timeout error. */
  what?: string;
  /** Aborts the wait with `AbortedError`. */
  signal?: AbortSignal;
}

/**
 * Polls `probe` until it returns a value other than `undefined`, `null` or
 * `false`, and returns that value. Exceptions thrown by `probe` count as "not
 * yet" (servers refuse connections while starting); the last one is attached
 * as the cause of the timeout error.
 */
export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: WaitForOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    if (opts.signal?.aborted) throw new AbortedError("wait aborted", { cause: opts.signal.reason });
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() >= deadline) {
      throw new LaunchFailedError(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? "condition"}`, {
        cause: lastErr,
      });
    }
    await sleep(intervalMs, opts.signal);
  }
}

/** GETs `url` and parses JSON; throws on HTTP errors or when it takes longer than `timeoutMs`. */
export async function getJson<T = unknown>(url: string, timeoutMs = 2_000): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (!res.ok) throw new LaunchFailedError(`GET ${url}: HTTP ${res.status}: ${text.slice(0, 200)}`);
  return JSON.parse(text) as T;
}

// ---- orphan protection ---------------------------------------------------

/** Children still alive; SIGKILLed when this process exits. */
export const liveChildren = new Set<ChildProcess>();
/** Temporary directories to remove when this process exits. */
export const liveTempDirs = new Set<string>();
let exitHooked = false;

function killEverythingSync(): void {
  for (const c of liveChildren) {
    try {
      c.kill("SIGKILL");
    } catch {
      /* already gone */
    }
  }
  for (const d of liveTempDirs) rmSync(d, { recursive: true, force: true });
}

/** Installs (once) the exit and signal hooks that kill {@link liveChildren}. */
export function hookProcessExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on("exit", killEverythingSync);
  // 'exit' does not run when a signal's default action kills us, so act on
  // the usual ones too, but only when nobody else listens: an application
  // with its own handler (e.g. a demo resigning its lease on Ctrl-C) still
  // needs its servers, and will stop() them or reach 'exit'. After cleanup,
  // re-raise so the default action (termination) still happens.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      if (process.listenerCount(sig) > 1) return;
      killEverythingSync();
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

// ---- binary lookup ---------------------------------------------------------

/** True when `p` is an executable file. */
export function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Path of the nats-server binary: `$NATS_SERVER_BIN`, else `nats-server` on PATH, else /usr/sbin/nats-server. */
export function findNatsServer(): string {
  const fromEnv = process.env["NATS_SERVER_BIN"];
  if (fromEnv) {
    if (isExecutable(fromEnv)) return fromEnv;
    throw new LaunchFailedError(`NATS_SERVER_BIN=${fromEnv} is not an executable file`);
  }
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    if (dir && isExecutable(join(dir, "nats-server"))) return join(dir, "nats-server");
  }
  if (isExecutable("/usr/sbin/nats-server")) return "/usr/sbin/nats-server";
  throw new LaunchFailedError(
    "nats-server not found (looked at $NATS_SERVER_BIN, PATH and /usr/sbin/nats-server). " +
      "Install it with `apt-get install nats-server` (Debian/Ubuntu), or download a release from " +
      "https://github.com/nats-io/nats-server/releases and set NATS_SERVER_BIN=/path/to/nats-server.",
  );
}

let pdeathWrapper: string | null | undefined;

/**
 * Wraps a command so the kernel SIGKILLs it when this process dies. The exit
 * hooks cannot run when this process is SIGKILLed (a test runner killing a
 * hung worker, a chaos test killing a candidate). On Linux,
 * `setpriv --pdeathsig SIGKILL` does it; setpriv execs the server, so the pid
 * stays the server's. Elsewhere (or with REGENT_NO_PDEATHSIG=1) the command
 * is returned unchanged.
 */
export function withParentDeathSignal(bin: string, args: string[]): [string, string[]] {
  if (pdeathWrapper === undefined) {
    pdeathWrapper = null;
    if (process.platform === "linux" && process.env["REGENT_NO_PDEATHSIG"] !== "1") {
      pdeathWrapper = ["/usr/bin/setpriv", "/bin/setpriv"].find(isExecutable) ?? null;
    }
  }
  return pdeathWrapper ? [pdeathWrapper, ["--pdeathsig", "SIGKILL", "--", bin, ...args]] : [bin, args];
}

/** True while a process with this pid exists (signal 0 probes without killing). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The parts of the monitoring endpoint's `/jsz?streams=true` the launcher reads. */
export interface JszStreams {
  meta_cluster?: { leader?: string; cluster_size?: number };
  account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[];
}

// ---- observation helpers -----------------------------------------------------

/**
 * Name of the server leading stream `streamName` (a KV bucket's stream is
 * `KV_<bucket>`), or `undefined` while there is none. A name counts only when
 * that server is running and itself reports being the leader: followers keep
 * naming a dead leader for a while after it was killed.
 */
export async function streamLeader(handle: NatsServerHandle, streamName: string): Promise<string | undefined> {
  const members = handle.servers;
  const views = await Promise.all(
    members.map(async (m) => {
      if (!m.running) return undefined;
      try {
        const jsz = await getJson<JszStreams>(`http://${LOOPBACK}:${m.monitorPort}/jsz?streams=true`, 1_000);
        for (const acc of jsz.account_details ?? []) {
          const s = acc.stream_detail?.find((x) => x.name === streamName);
          if (s) return s.cluster?.leader || (handle.clusterName === undefined ? m.name : undefined);
        }
      } catch {
        /* not answering: no opinion */
      }
      return undefined;
    }),
  );
  return members.find((m, i) => views[i] !== undefined && views[i] === m.name)?.name;
}

/** Waits until `streamName` has a leader not listed in `notIn`, and returns its name. */
export function waitForStreamLeader(
  handle: NatsServerHandle,
  streamName: string,
  opts: { notIn?: string[]; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<string> {
  return waitFor(
    async () => {
      const l = await streamLeader(handle, streamName);
      return l !== undefined && !(opts.notIn ?? []).includes(l) ? l : undefined;
    },
    { timeoutMs: opts.timeoutMs ?? 30_000, intervalMs: 100, what: `a leader for stream ${streamName}`, ...(opts.signal ? { signal: opts.signal } : {}) },
  );
}

/** Index in `handle.servers` of the server called `name` (-1 when absent). */
export function serverIndex(handle: NatsServerHandle, name: string): number {
  return handle.servers.findIndex((s) => s.name === name);
}
