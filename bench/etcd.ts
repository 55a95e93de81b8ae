/**
 * A throwaway single-member etcd on loopback for the comparison benchmark:
 * ephemeral client and peer ports, a temporary data directory, killed (and
 * the directory removed) on stop. Uses the Debian `etcd-server` package's
 * /usr/bin/etcd (3.4); when it is missing and we are root, installs it with
 * apt-get (`ensureEtcd`).
 *
 * The server keeps its defaults (fsync on every WAL write, 100 ms heartbeat,
 * 1 s election timeout): the comparison is against etcd as shipped.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { freePorts, getJson, hookProcessExit, isExecutable, liveChildren, liveTempDirs, sleep, withParentDeathSignal } from "../src/launcher/ports.js";

/** Path of etcd: `$ETCD_BIN`, else `etcd` on PATH, else /usr/bin/etcd; `undefined` when none. */
export function findEtcd(): string | undefined {
  const env = process.env["ETCD_BIN"];
  if (env) return isExecutable(env) ? env : undefined;
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    if (dir && isExecutable(join(dir, "etcd"))) return join(dir, "etcd");
  }
  return isExecutable("/usr/bin/etcd") ? "/usr/bin/etcd" : undefined;
}

/**
 * The etcd binary, installing Debian's `etcd-server` when it is missing and
 * `install` is allowed and we are root. Returns `undefined` (with the reason)
 * when there is none.
 */
export function ensureEtcd(opts: { install?: boolean; log?: (l: string) => void } = {}): { bin?: string; reason?: string } {
  const found = findEtcd();
  if (found) return { bin: found };
  if (!opts.install) return { reason: "etcd not installed (apt-get install etcd-server, or set ETCD_BIN)" };
  if (process.getuid?.() !== 0) return { reason: "etcd not installed and not root, so not installing it (apt-get install etcd-server)" };
  opts.log?.("etcd not found: apt-get install -y etcd-server");
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    execFileSync("apt-get", ["update", "-qq"], { stdio: "ignore", env, timeout: 300_000 });
    execFileSync("apt-get", ["install", "-y", "-qq", "etcd-server"], { stdio: "ignore", env, timeout: 300_000 });
  } catch (err) {
    return { reason: `apt-get install etcd-server failed: ${(err as Error).message}` };
  }
  const bin = findEtcd();
  return bin ? { bin } : { reason: "etcd-server installed but no etcd binary found" };
}

/** `etcd --version` first line's version, e.g. `3.4.23`. */
export function etcdVersion(bin: string): string {
  try {
    const out = execFileSync(bin, ["--version"], { encoding: "utf8", timeout: 5_000 });
    return /etcd Version:\s*(\S+)/.exec(out)?.[1] ?? out.split("\n")[0]!.trim();
  } catch {
    return "unknown";
  }
}

export interface EtcdHandle {
  /** Client URL, `http://127.0.0.1:<port>`. */
  url: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

/** Starts one etcd member on ephemeral loopback ports; resolves once `/health` says true. */
export async function startEtcd(bin: string, opts: { signal?: AbortSignal; readyTimeoutMs?: number } = {}): Promise<EtcdHandle> {
  hookProcessExit();
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), "regent-bench-etcd-"));
    liveTempDirs.add(dir);
    const [client, peer] = (await freePorts(2)) as [number, number];
    const url = `http://127.0.0.1:${client}`;
    const peerUrl = `http://127.0.0.1:${peer}`;
    const logFile = join(dir, "etcd.log");
    const args = [
      ...["--name", "bench", "--data-dir", join(dir, "data")],
      ...["--listen-client-urls", url, "--advertise-client-urls", url],
      ...["--listen-peer-urls", peerUrl, "--initial-advertise-peer-urls", peerUrl],
      ...["--initial-cluster", `bench=${peerUrl}`, "--initial-cluster-state", "new", "--log-level", "warn", "--logger", "zap"],
    ];
    const fd = openSync(logFile, "a");
    let child: ChildProcess;
    try {
      const [cmd, a] = withParentDeathSignal(bin, args);
      child = spawn(cmd, a, { stdio: ["ignore", fd, fd] });
    } finally {
      closeSync(fd);
    }
    liveChildren.add(child);
    const exited = new Promise<void>((r) => child.once("exit", () => (liveChildren.delete(child), r())));
    let dead = false;
    void exited.then(() => (dead = true));
    const stop = async () => {
      if (!dead) {
        child.kill("SIGKILL");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
      liveTempDirs.delete(dir);
    };
    try {
      const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
      for (;;) {
        if (opts.signal?.aborted) throw new Error("startEtcd aborted");
        if (dead) throw new Error(`etcd exited during start-up:\n${readFileSync(logFile, "utf8").slice(-1500)}`);
        const h = await getJson<{ health?: string }>(`${url}/health`, 1_000).catch(() => undefined);
        if (h?.health === "true") break;
        if (Date.now() > deadline) throw new Error(`etcd not healthy within ${opts.readyTimeoutMs ?? 20_000} ms:\n${readFileSync(logFile, "utf8").slice(-1500)}`);
        await sleep(50);
      }
      return { url, pid: child.pid!, logFile, stop };
    } catch (err) {
      await stop();
      lastErr = err;
      if (opts.signal?.aborted) break;
    }
  }
  throw lastErr;
}
