/**
 * Starts a local NATS supercluster from a {@link Topology}: one JetStream
 * cluster per region, named after the region, all joined by gateways, and
 * nothing stretched across regions (issue 11, docs/quorum.md). Each region's
 * lease bucket is placed in its region's cluster, and so is its quorum
 * bucket (single-replica, pinned to `<region>-1` by the server tag
 * `srv:<region>-1`): the global and scope leases are quorum leases over every
 * region's quorum bucket, so losing a region stalls nothing that lives
 * elsewhere.
 *
 * Start-up is two-phase like the single-cluster launcher: every port is
 * picked first, because each config lists every route of its cluster and
 * every gateway of the supercluster; then all servers start at once. Members
 * are the launcher's own, so they land in the same orphan registry and log
 * to files, never to stdout.
 *
 * nats-server 2.9.10 behaviour this relies on (measured here):
 * - JetStream has ONE meta group spanning every server of the supercluster,
 *   so "ready" means all servers name the same meta leader and the group
 *   counts all of them. Stream and bucket *creation* needs a meta majority;
 *   reads and writes of existing streams do not. With three or more regions
 *   of equal size, losing any one region leaves a meta majority (light: 2 of
 *   3 servers, full with 3 servers each: 6 of 9); with two regions it does
 *   not, and a region loss also leaves no majority of quorum buckets
 *   (docs/quorum.md: no witness region is built).
 * - A one-server cluster in a supercluster needs a route (to itself) or
 *   JetStream refuses to start; see `Member` in nats-launcher.ts.
 * - `placement: { cluster, tags }` with a server's `srv:` tag puts a
 *   single-replica stream on that very server (test/launcher/supercluster.test.ts),
 *   but only once the meta leader has that server's tags, which come with
 *   the server's periodic stats, not with its route or gateway: see
 *   {@link placementReady}.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { natsAuthOptions } from "../util/nats-auth.js";
import { LaunchFailedError, StoppedError, throwIfAborted } from "../errors.js";
import type { Topology } from "../topology/schema.js";
import { serverTag } from "../hierarchy/store-layout.js";
import { superclusterPlan, type PlannedServer } from "../topology/plan.js";
import type { ServerMode } from "../hierarchy/store-layout.js";
import {
  NatsServerGroup,
  Member,
  healthy,
  makeTempRoot,
  startRetrying,
  waitReady,
  type GatewaySpec,
  type NatsServerHandle,
  type NatsServerMember,
} from "./nats-launcher.js";
import { findNatsServer, freePorts, getJson } from "./ports.js";
import type { Secrets } from "./secrets.js";
import { serverAccessConf, type ServerAccessConf } from "../topology/access.js";

/** Options of {@link startSupercluster}. */
export interface StartSuperclusterOptions {
  mode: ServerMode;
  /** Put every server's log here (kept on stop) instead of the temporary directory. */
  logDir?: string;
  signal?: AbortSignal;
  /** How long to wait for the whole supercluster to be ready (default 60 000 ms). */
  readyTimeoutMs?: number;
  /**
   * Secure the servers with these secrets (`ensureSecrets`): TLS on client,
   * route and gateway ports, nkey users with the permissions of
   * `topology/access.ts`, no anonymous access. Without it the servers are
   * open, which is what tests and drills use; `regent up` passes it.
   */
  secrets?: Secrets;
}

/** A server of the supercluster. */
export interface SuperclusterMember extends NatsServerMember {
  /** NATS cluster: its region's name. */
  readonly cluster: string;
  /** Region the server belongs to (the same as {@link cluster}). */
  readonly region: string;
  /** JetStream server tags (`server_tags`): `srv:<name>` and `region:<region>`. */
  readonly tags: readonly string[];
  readonly gatewayPort: number;
}

/** The servers of one NATS cluster. */
export interface ClusterMembers {
  readonly name: string;
  /** Client URLs of every server of the cluster. */
  readonly urls: string[];
  readonly servers: readonly SuperclusterMember[];
}

/** A running supercluster. Servers are named `serverName(region, n)` = `<region>-<n>` (n from 1). */
export interface Supercluster {
  readonly topology: Topology;
  readonly mode: ServerMode;
  /** Region name → its own cluster. */
  readonly regions: Readonly<Record<string, ClusterMembers>>;
  /** Client URLs of every server of every region, for clients that may connect anywhere (operators, observers, tests). */
  readonly urls: string[];
  /** Every server as one launcher handle, for `streamLeader` / `waitForStreamLeader` and the like. */
  readonly all: NatsServerHandle;
  /** Client URLs of the region's own cluster: a region's clients connect there, and reach other clusters through gateways. */
  allUrls(region: string): string[];
  /** SIGTERM every server (SIGKILL after a grace period) and remove temporary directories. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL every server of the region's own cluster (nothing else); resolves once they are gone. */
  killRegion(region: string): Promise<void>;
  /** Starts the region's servers again (same ports and stores) and waits until they are healthy and their gateways are up. */
  restartRegion(region: string, opts?: { timeoutMs?: number }): Promise<void>;
  /** Sends `signal` (default SIGKILL) to one server; for terminating signals, resolves once it has exited. */
  kill(serverName: string, signal?: NodeJS.Signals): Promise<void>;
  /** Restarts one server (stopping it first if it runs) and waits until it is healthy and its gateways are up. */
  restart(serverName: string, opts?: { timeoutMs?: number }): Promise<void>;
}

class ScMember extends Member implements SuperclusterMember {
  constructor(
    plan: PlannedServer,
    args: { bin: string; dir: string; logDir: string; ports: [number, number, number, number]; routePorts: number[]; gateway: GatewaySpec; access: ServerAccessConf | undefined },
  ) {
    const [client, route, gw, monitor] = args.ports;
    super(plan.name, args.bin, args.dir, join(args.dir, "jetstream"), join(args.logDir, `${plan.name}.log`), client, monitor, route, true, { name: plan.cluster, routePorts: args.routePorts }, { ...args.gateway, port: gw }, args.access, plan.tags);
    this.cluster = plan.cluster;
    this.region = plan.region;
    this.tags = plan.tags;
    this.gatewayPort = gw;
  }
  readonly cluster: string;
  readonly region: string;
  readonly tags: readonly string[];
  readonly gatewayPort: number;
}

interface Jsz {
  meta_cluster?: { leader?: string; cluster_size?: number };
}
interface Gatewayz {
  outbound_gateways?: Record<string, { connection?: unknown }>;
}

/**
 * One server is ready: healthy (for a clustered server /healthz includes
 * "current with the meta leader"), and holding an outbound gateway to every
 * other cluster that has a running server. Without the gateway check a
 * restarted region would look ready about a second before clients of other
 * regions can reach it (gateways reconnect on a 1 s timer).
 */
async function memberReady(m: ScMember, clustersUp: Set<string>): Promise<boolean> {
  if (!(await healthy(m, true))) return false;
  const gwz = await getJson<Gatewayz>(m.monitorUrl("/gatewayz"), 1_000);
  const out = gwz.outbound_gateways ?? {};
  return [...clustersUp].every((c) => c === m.cluster || out[c]?.connection !== undefined);
}

function runningClusters(members: ScMember[]): Set<string> {
  return new Set(members.filter((m) => m.running).map((m) => m.cluster));
}

/**
 * The whole supercluster is ready: every server ready, all naming the same
 * meta leader, and the meta group counting every server. The last check
 * matters: a region's three routed servers (full mode) can elect a meta
 * leader among themselves before any gateway is up.
 */
async function allReady(members: ScMember[]): Promise<boolean> {
  const up = runningClusters(members);
  const views = await Promise.all(
    members.map(async (m) => {
      if (!(await memberReady(m, up))) return undefined;
      const meta = (await getJson<Jsz>(m.monitorUrl("/jsz"), 1_000)).meta_cluster;
      return meta?.leader && (meta.cluster_size ?? 0) >= members.length ? meta.leader : undefined;
    }),
  );
  return views.every((l) => l !== undefined && l === views[0]);
}

/**
 * Placement by server tag works for every server. The meta leader learns a
 * server's tags from that server's periodic stats messages, so for up to
 * about a second after {@link allReady} holds, a bucket pinned to a fresh
 * server's tag is refused with "no suitable peers for placement" ("peer
 * offline" or "miscellaneous issue"; 2.9.10, light mode: 4 start-ups of 10,
 * for about 0.7 s; a node creating its quorum bucket then would fail).
 * Servers restarted later are not probed: the meta leader may then call
 * them offline for as long, and a bucket created on them must be retried. Nothing but the meta leader can answer, so each
 * server is asked by creating, then deleting, a small memory stream pinned
 * to it. `done` keeps the servers already confirmed across polls.
 */
async function placementReady(nc: NatsConnection, members: ScMember[], done: Set<string>): Promise<boolean> {
  const jsm = await jetstreamManager(nc, { timeout: 2_000 });
  for (const m of members) {
    if (done.has(m.name)) continue;
    const name = `regent-launcher-probe-${m.name}`;
    try {
      await jsm.streams.add({ name, subjects: [`regent-launcher-probe.${m.name}`], storage: StorageType.Memory, num_replicas: 1, placement: { cluster: m.cluster, tags: [serverTag(m.name)] } });
    } catch {
      return false; // not yet known to the meta leader: poll again
    }
    await jsm.streams.delete(name);
    done.add(m.name);
  }
  return true;
}

/** Waits for {@link placementReady}, through a client of its own (the operator identity on a secured supercluster). */
async function waitPlacementReady(members: ScMember[], secrets: Secrets | undefined, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
  const auth = secrets ? natsAuthOptions({ nkey: secrets.seedFile("operator"), tlsCa: secrets.client.ca }) : {};
  const nc = await connect({ ...auth, servers: members.map((m) => m.url), name: "regent-launcher", timeout: 5_000 });
  const done = new Set<string>();
  try {
    await waitReady(members, () => placementReady(nc, members, done).catch(() => false), timeoutMs, "placement by server tag on every server", signal);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

class SuperclusterImpl implements Supercluster {
  readonly regions: Readonly<Record<string, ClusterMembers>>;
  readonly urls: string[];
  private stopped = false;
  constructor(
    readonly topology: Topology,
    readonly mode: ServerMode,
    private readonly members: ScMember[],
    private readonly group: NatsServerGroup,
  ) {
    const view = (cluster: string): ClusterMembers => {
      const servers = members.filter((m) => m.cluster === cluster);
      return { name: cluster, urls: servers.map((m) => m.url), servers };
    };
    this.regions = Object.fromEntries(topology.regions.map((r) => [r.name, view(r.name)]));
    this.urls = members.map((m) => m.url);
  }

  get all(): NatsServerHandle {
    return this.group;
  }

  allUrls(region: string): string[] {
    return this.region(region).urls;
  }

  stop(): Promise<void> {
    this.stopped = true;
    return this.group.stop();
  }

  async killRegion(region: string): Promise<void> {
    this.region(region);
    await Promise.all(this.members.filter((m) => m.region === region).map((m) => m.signal("SIGKILL")));
  }

  async restartRegion(region: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    this.region(region);
    await this.restartMembers(
      this.members.filter((m) => m.region === region),
      opts.timeoutMs,
      `region ${region} to come back`,
    );
  }

  // async, so a bad name rejects like every other failure instead of throwing synchronously
  async kill(serverName: string, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    await this.member(serverName).signal(signal);
  }

  async restart(serverName: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    await this.restartMembers([this.member(serverName)], opts.timeoutMs, `${serverName} to come back`);
  }

  private async restartMembers(ms: ScMember[], timeoutMs = 30_000, what: string): Promise<void> {
    if (this.stopped) throw new StoppedError("supercluster is stopped");
    await Promise.all(ms.map((m) => m.terminate()));
    for (const m of ms) m.spawn();
    // Others must also have re-established their gateways to the restarted
    // servers' clusters, or a client elsewhere still cannot reach them.
    await waitReady(
      ms,
      async () => {
        const up = runningClusters(this.members);
        const ready = await Promise.all(this.members.filter((m) => m.running).map((m) => memberReady(m, up)));
        return ready.every(Boolean);
      },
      timeoutMs,
      what,
    );
  }

  private region(name: string): ClusterMembers {
    const r = this.regions[name];
    if (!r) throw new LaunchFailedError(`unknown region "${name}" (known: ${Object.keys(this.regions).join(", ")})`);
    return r;
  }

  private member(name: string): ScMember {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new LaunchFailedError(`no server called "${name}" (have ${this.members.map((x) => x.name).join(", ")})`);
    return m;
  }
}

/**
 * Starts the supercluster described by `topology` on loopback and resolves
 * once JetStream is ready everywhere (one meta leader known to every server,
 * every gateway up). Retries with fresh ports when a server dies during
 * start-up (a port taken between picking and binding).
 */
export async function startSupercluster(topology: Topology, opts: StartSuperclusterOptions): Promise<Supercluster> {
  throwIfAborted(opts.signal);
  const bin = findNatsServer();
  const plan = superclusterPlan(topology, opts.mode);
  const servers = plan.flatMap((c) => c.servers);
  const sec = opts.secrets;
  const access = sec ? serverAccessConf(topology, { tls: sec.server, nkey: (id) => JSON.stringify(sec.publicKey(id.name)) }, opts.mode) : undefined;
  return startRetrying("startSupercluster", opts.signal, async () => {
    // Phase 1: every port of every server, all distinct (freePorts holds them
    // open together), because each config names its cluster's routes and
    // every cluster's gateways.
    const ports = await freePorts(servers.length * 4);
    const portsOf = (i: number) => ports.slice(i * 4, i * 4 + 4) as [number, number, number, number]; // client, route, gateway, monitor
    const index = new Map(servers.map((s, i) => [s.name, i]));
    const idx = (s: PlannedServer) => index.get(s.name) ?? -1;
    const gateway: GatewaySpec = { port: 0, clusters: plan.map((c) => ({ name: c.cluster, ports: c.servers.map((s) => portsOf(idx(s))[2]) })) };
    const root = makeTempRoot("supercluster");
    const logDir = opts.logDir ?? root;
    mkdirSync(logDir, { recursive: true });
    const members: ScMember[] = [];
    for (const c of plan) {
      const routePorts = c.servers.map((s) => portsOf(idx(s))[1]);
      for (const s of c.servers) {
        const dir = join(root, s.name);
        mkdirSync(dir);
        members.push(new ScMember(s, { bin, dir, logDir, ports: portsOf(idx(s)), routePorts, gateway, access }));
      }
    }
    const deployment = new NatsServerGroup(members, "supercluster", [root]);
    const ready = async () => {
      // Phase 2: start everyone, then wait for one meta group over all of them.
      for (const m of members) m.spawn();
      const readyBy = performance.now() + (opts.readyTimeoutMs ?? 60_000);
      await waitReady(members, () => allReady(members), opts.readyTimeoutMs ?? 60_000, "the supercluster to form", opts.signal);
      await waitPlacementReady(members, sec, Math.max(1_000, readyBy - performance.now()), opts.signal);
      return new SuperclusterImpl(topology, opts.mode, members, deployment);
    };
    return { deployment, ready };
  });
}
