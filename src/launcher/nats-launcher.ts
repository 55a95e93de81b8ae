/**
 * Spawns real nats-server processes on loopback for the CLI demo and for
 * tests: one JetStream server, or a JetStream cluster whose routes are fixed
 * before any member starts (a JetStream cluster refuses to start without
 * routes, and routes cannot be learnt afterwards).
 *
 * No orphans: every child is recorded in a module-level registry and
 * SIGKILLed when this process exits, and on Linux it is also started under
 * `setpriv --pdeathsig SIGKILL`, so even a SIGKILLed parent leaves no
 * nats-server behind. Server output goes to a log file in the server's
 * temporary directory (or `logDir`), never to our stdout.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AbortedError, LaunchFailedError, StoppedError, throwIfAborted } from "../errors.js";
import type { ServerAccessConf } from "../topology/access.js";
import type { NatsServerHandle, NatsServerMember } from "./handle.js";
import { LOOPBACK, findNatsServer, freePorts, getJson, hookProcessExit, liveChildren, liveTempDirs, waitFor, withParentDeathSignal, type JszStreams } from "./ports.js";

export { findNatsServer, freePorts, pidAlive, serverIndex, sleep, streamLeader, waitFor, waitForStreamLeader, type WaitForOptions } from "./ports.js";

export type { NatsServerHandle, NatsServerMember } from "./handle.js";

/** Options of {@link startNatsServer}. */
export interface StartNatsServerOptions {
  /** Enable JetStream (default true). */
  jetstream?: boolean;
  /** Use this store dir instead of a temporary one; it is not removed on stop. */
  storeDir?: string;
  /** Server name (default `regent-<pid>-<n>`). */
  name?: string;
  /** Put log files here instead of the temporary directory (kept on stop). */
  logDir?: string;
  signal?: AbortSignal;
  /** How long to wait for readiness (default 20 000 ms). */
  readyTimeoutMs?: number;
}

/** Options of {@link startNatsCluster}. */
export interface StartNatsClusterOptions {
  /** Number of servers (default 3). */
  size?: number;
  /** Cluster name; servers are called `<name>-<i>`. */
  name?: string;
  logDir?: string;
  signal?: AbortSignal;
  /** How long to wait until every member agrees on a meta leader (default 30 000 ms). */
  readyTimeoutMs?: number;
}

// Signals after which nats-server exits (SIGHUP only reloads its config).
const TERMINATING = new Set<string>(["SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT"]);
const STOP_GRACE_MS = 5_000;
/** @internal Start attempts when a member dies during start-up (a port taken between picking and binding). */
export const START_ATTEMPTS = 3;

// ---- one member ------------------------------------------------------------
// Exports marked @internal serve the supercluster launcher (supercluster.ts),
// which spawns members the same way with a gateway block added.

/** @internal Route block of a cluster member: the cluster's name and every member's route port. */
export interface ClusterSpec {
  name: string;
  routePorts: number[];
}

/** @internal Gateway block of a supercluster member: its own gateway port and every cluster's gateway ports, its own included. */
export interface GatewaySpec {
  port: number;
  clusters: { name: string; ports: number[] }[];
}

let nameCounter = 0;

/** @internal One nats-server process: its config is written once, and it can be spawned again with it. */
export class Member implements NatsServerMember {
  child: ChildProcess | undefined;
  exited: Promise<void> = Promise.resolve();
  private dead = true;
  readonly configFile: string;

  constructor(
    readonly name: string,
    readonly bin: string,
    readonly dir: string,
    readonly storeDir: string,
    readonly logFile: string,
    readonly port: number,
    readonly monitorPort: number,
    readonly clusterPort: number | undefined,
    readonly jetstream: boolean,
    cluster: ClusterSpec | undefined,
    gateway?: GatewaySpec,
    /** TLS and accounts (topology/access.ts); without it the server is open, as tests want. */
    access?: ServerAccessConf,
    /** JetStream `server_tags`, which stream placement can require (`placement.tags`). */
    serverTags?: readonly string[],
  ) {
    this.configFile = join(dir, `${name}.conf`);
    const q = JSON.stringify; // nats conf accepts JSON-quoted strings
    const lines = [
      `server_name: ${q(name)}`,
      `listen: ${q(`${LOOPBACK}:${port}`)}`,
      `http: ${q(`${LOOPBACK}:${monitorPort}`)}`,
    ];
    if (jetstream) lines.push(`jetstream { store_dir: ${q(storeDir)} }`);
    if (serverTags?.length) lines.push(`server_tags: [${serverTags.map((t) => q(t)).join(", ")}]`);
    if (access) lines.push(...access.top);
    const inner = (extra: string[] | undefined) => (extra?.length ? `, ${extra.map((l) => l.trim()).join(", ")}` : "");
    if (cluster && clusterPort !== undefined) {
      let routePorts = cluster.routePorts.filter((p) => p !== clusterPort);
      // With gateways, nats-server 2.9 runs JetStream clustered and exits with
      // "JetStream cluster requires configured routes" when a one-server
      // cluster has none. A route to itself counts as configured; at runtime
      // it is dropped once as a duplicate route.
      if (routePorts.length === 0 && gateway) routePorts = [clusterPort];
      const routes = routePorts.map((p) => q(`nats-route://${LOOPBACK}:${p}`));
      lines.push(`cluster { name: ${q(cluster.name)}, listen: ${q(`${LOOPBACK}:${clusterPort}`)}, routes: [${routes.join(", ")}]${inner(access?.cluster)} }`);
    }
    if (gateway && cluster) {
      const gws = gateway.clusters.map((c) => `{ name: ${q(c.name)}, urls: [${c.ports.map((p) => q(`nats://${LOOPBACK}:${p}`)).join(", ")}] }`);
      lines.push(`gateway { name: ${q(cluster.name)}, listen: ${q(`${LOOPBACK}:${gateway.port}`)}, gateways: [${gws.join(", ")}]${inner(access?.gateway)} }`);
    }
    writeFileSync(this.configFile, lines.join("\n") + "\n");
  }

  get url(): string {
    return `nats://${LOOPBACK}:${this.port}`;
  }
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }
  get process(): ChildProcess | undefined {
    return this.child;
  }
  get running(): boolean {
    return this.child !== undefined && !this.dead;
  }

  spawn(): void {
    hookProcessExit();
    const fd = openSync(this.logFile, "a");
    try {
      const [cmd, args] = withParentDeathSignal(this.bin, ["-c", this.configFile]);
      const child = spawn(cmd, args, { stdio: ["ignore", fd, fd], detached: false });
      this.child = child;
      this.dead = false;
      liveChildren.add(child);
      this.exited = new Promise<void>((resolve) => {
        const gone = () => {
          if (this.child === child) this.dead = true;
          liveChildren.delete(child);
          resolve();
        };
        child.once("exit", gone);
        // spawn failures (ENOENT, EACCES) arrive as 'error' without 'exit'
        child.once("error", gone);
      });
    } finally {
      closeSync(fd); // the child has its own copy
    }
  }

  logTail(lines = 15): string {
    try {
      return readFileSync(this.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }

  /** Sends `sig`; for terminating signals waits until the process is gone. */
  async signal(sig: NodeJS.Signals): Promise<void> {
    if (!this.running) return;
    this.child?.kill(sig);
    if (TERMINATING.has(sig)) await this.exited;
  }

  /** SIGTERM, then SIGKILL if it is still alive after `graceMs`. */
  async terminate(graceMs = STOP_GRACE_MS): Promise<void> {
    if (!this.running) return;
    this.child?.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), graceMs)));
    const outcome = await Promise.race([this.exited.then(() => "exited" as const), late]);
    clearTimeout(timer);
    if (outcome === "late") await this.signal("SIGKILL");
  }

  /** Resolves once the monitoring port answers as this server (not a stranger that took the port). */
  async answersAsSelf(): Promise<boolean> {
    const varz = await getJson<{ server_name?: string }>(this.monitorUrl("/varz"), 1_000);
    return varz.server_name === this.name;
  }

  monitorUrl(path: string): string {
    return `http://${LOOPBACK}:${this.monitorPort}${path}`;
  }
}

/** @internal A member died while we waited for readiness (typically a port taken by someone else). */
export class StartupExitError extends LaunchFailedError {}

/**
 * Polls `ready` until it holds, failing fast (with the log tail) when any
 * member exits meanwhile: that is how a port lost to another process shows.
 * @internal
 */
export async function waitReady(members: Member[], ready: () => Promise<boolean>, timeoutMs: number, what: string, signal?: AbortSignal): Promise<void> {
  const stopPolling = new AbortController();
  const onAbort = () => stopPolling.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  const died = Promise.race(members.map((m) => m.exited.then(() => m))).then((m) => {
    if (stopPolling.signal.aborted) return;
    throw new StartupExitError(`nats-server ${m.name} exited during startup (code ${m.child?.exitCode}, signal ${m.child?.signalCode}):\n${m.logTail()}`);
  });
  try {
    await Promise.race([
      waitFor(async () => (await ready()) || undefined, { timeoutMs, intervalMs: 50, what, signal: stopPolling.signal }),
      died,
    ]);
  } finally {
    stopPolling.abort();
    signal?.removeEventListener("abort", onAbort);
    died.catch(() => undefined); // the race may already be decided
  }
}

/**
 * Member up and healthy. A single server only needs JetStream enabled; a
 * cluster member's plain /healthz also requires it to be current with the
 * meta leader, which is what "ready to serve KV calls" means there.
 * @internal
 */
export async function healthy(m: Member, clustered: boolean): Promise<boolean> {
  if (!m.running || !(await m.answersAsSelf())) return false;
  const path = clustered || !m.jetstream ? "/healthz" : "/healthz?js-enabled-only=true";
  const h = await getJson<{ status?: string }>(m.monitorUrl(path), 1_000);
  return h.status === "ok";
}


/** True when every member is up, all report the same meta leader, and every /healthz is ok (JetStream current). */
async function clusterFormed(members: Member[]): Promise<boolean> {
  const leaders = await Promise.all(
    members.map(async (m) => {
      if (!(await healthy(m, true))) return undefined;
      return (await getJson<JszStreams>(m.monitorUrl("/jsz"), 1_000)).meta_cluster?.leader || undefined;
    }),
  );
  return leaders.every((l) => l !== undefined && l === leaders[0]);
}

// ---- handles ---------------------------------------------------------------

/** @internal Members stopped, killed and restarted as one handle; what the start functions return. */
export class NatsServerGroup implements NatsServerHandle {
  private stopped = false;
  constructor(
    readonly members: Member[],
    readonly clusterName: string | undefined,
    private readonly tempDirs: string[],
  ) {}

  get servers(): readonly NatsServerMember[] {
    return this.members;
  }
  get urls(): string[] {
    return this.members.map((m) => m.url);
  }
  get url(): string {
    return this.urls[0] ?? "";
  }

  private member(i: number): Member {
    const m = this.members[i];
    if (!m) throw new LaunchFailedError(`no server at index ${i} (have ${this.members.length})`);
    return m;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.members.map((m) => m.terminate()));
    for (const d of this.tempDirs) {
      rmSync(d, { recursive: true, force: true });
      liveTempDirs.delete(d);
    }
  }

  kill(serverIndex = 0, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    return this.member(serverIndex).signal(signal);
  }

  async restart(serverIndex = 0, opts: { waitHealthy?: boolean; timeoutMs?: number } = {}): Promise<void> {
    if (this.stopped) throw new StoppedError("deployment is stopped");
    const m = this.member(serverIndex);
    await m.terminate();
    m.spawn();
    const ready = opts.waitHealthy === false ? () => m.answersAsSelf() : () => healthy(m, this.clusterName !== undefined);
    await waitReady([m], ready, opts.timeoutMs ?? 30_000, `${m.name} to come back`);
  }
}

/** @internal A temporary directory, removed on stop or, failing that, when this process exits. */
export function makeTempRoot(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `regent-nats-${label}-`));
  liveTempDirs.add(dir);
  return dir;
}

/**
 * Up to START_ATTEMPTS tries: `attempt` builds a deployment on fresh ports,
 * then its `ready` starts it and waits. A deployment that fails is stopped;
 * only a server that died during start-up (a port taken between picking and
 * binding: StartupExitError) is worth another try.
 * @internal
 */
export async function startRetrying<T>(what: string, signal: AbortSignal | undefined, attempt: () => Promise<{ deployment: NatsServerGroup; ready: () => Promise<T> }>): Promise<T> {
  let lastErr: unknown;
  for (let i = 0; i < START_ATTEMPTS; i++) {
    const { deployment, ready } = await attempt();
    try {
      return await ready();
    } catch (err) {
      await deployment.stop();
      if (signal?.aborted) throw new AbortedError(`${what} aborted`, { cause: err });
      lastErr = err;
      if (!(err instanceof StartupExitError)) break; // only port races are worth a retry
    }
  }
  throw lastErr;
}

/** Starts one nats-server (JetStream on by default) on ephemeral loopback ports. */
export async function startNatsServer(opts: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  throwIfAborted(opts.signal);
  const bin = findNatsServer();
  const name = opts.name ?? `regent-${process.pid}-${++nameCounter}`;
  return startRetrying("startNatsServer", opts.signal, async () => {
    const root = makeTempRoot("single");
    const [port, monitorPort] = (await freePorts(2)) as [number, number];
    const storeDir = opts.storeDir ?? join(root, "jetstream");
    const logDir = opts.logDir ?? root;
    mkdirSync(logDir, { recursive: true });
    const m = new Member(name, bin, root, storeDir, join(logDir, `${name}.log`), port, monitorPort, undefined, opts.jetstream !== false, undefined);
    const deployment = new NatsServerGroup([m], undefined, [root]);
    const ready = async () => {
      m.spawn();
      await waitReady([m], () => healthy(m, false), opts.readyTimeoutMs ?? 20_000, `${name} to be ready`, opts.signal);
      return deployment;
    };
    return { deployment, ready };
  });
}

/** Starts a JetStream cluster of `size` servers (default 3) on loopback, and waits until it has a meta leader. */
export async function startNatsCluster(opts: StartNatsClusterOptions = {}): Promise<NatsServerHandle> {
  throwIfAborted(opts.signal);
  const bin = findNatsServer();
  const size = opts.size ?? 3;
  if (!Number.isInteger(size) || size < 1) throw new LaunchFailedError(`cluster size must be a positive integer, got ${size}`);
  const clusterName = opts.name ?? `regent-${process.pid}-${++nameCounter}`;
  return startRetrying("startNatsCluster", opts.signal, async () => {
    // Phase 1: every port up front, because each config lists all routes.
    const ports = await freePorts(size * 3);
    const routePorts = ports.slice(size, 2 * size);
    const root = makeTempRoot(clusterName);
    const logDir = opts.logDir ?? root;
    mkdirSync(logDir, { recursive: true });
    const members: Member[] = [];
    for (let i = 0; i < size; i++) {
      const name = `${clusterName}-${i}`;
      const dir = join(root, name);
      mkdirSync(dir);
      members.push(
        new Member(name, bin, dir, join(dir, "jetstream"), join(logDir, `${name}.log`), ports[i]!, ports[2 * size + i]!, routePorts[i]!, true, {
          name: clusterName,
          routePorts,
        }),
      );
    }
    const deployment = new NatsServerGroup(members, clusterName, [root]);
    const ready = async () => {
      // Phase 2: start everyone, then wait for a meta leader all agree on.
      for (const m of members) m.spawn();
      await waitReady(members, () => clusterFormed(members), opts.readyTimeoutMs ?? 30_000, `cluster ${clusterName} to form`, opts.signal);
      return deployment;
    };
    return { deployment, ready };
  });
}
