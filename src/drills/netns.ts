/**
 * A supercluster whose regions live in their own network namespaces, for
 * partition-region. Layout (all created here, all removed afterwards):
 *
 *   regent-drill-<pid>-c      "core": a bridge with 10.213.0.1/24; the drill
 *                             itself runs here (re-executed with `ip netns exec`)
 *   regent-drill-<pid>-r<i>   one per region: a veth to the core bridge with
 *                             10.213.0.<10+i>; the region's server (`<r>-1`)
 *                             and its nodes run here
 *
 * The 10.213.0.0/24 addresses exist only inside these namespaces, which have
 * no route anywhere else. Cutting a region = taking its veth's core end down.
 * Servers are the launcher's own {@link Member}s with a namespace-aware
 * config and a wrapper script that execs `ip netns exec <ns> nats-server`, so
 * pids, signals and the orphan registry work as for the loopback launcher.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LaunchFailedError } from "../errors.js";
import { NatsServerGroup, Member, healthy, makeTempRoot, waitReady } from "../launcher/nats-launcher.js";
import { findNatsServer, getJson, pidAlive } from "../launcher/ports.js";
import { serverTag } from "../hierarchy/store-layout.js";
import type { Topology } from "../topology/load.js";
import type { Fabric, FabricServer } from "./fabric.js";

const NS_PREFIX = "regent-drill-";
const SUBNET = "10.213.0";
/** Ports inside each namespace: [client, route, gateway, monitor] of `<r>-1`. */
const PORTS = { region: [4222, 6222, 7222, 8222] } as const;

/** What the parent set up and the inner (re-executed) drill uses. Passed in REGENT_DRILL_NETNS. */
export interface NetnsPlan {
  core: string;
  bridge: string;
  regions: Record<string, { ns: string; ip: string; veth: string }>;
}

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/** Kills what runs inside `ns` (only ever our own namespaces) and deletes it. */
function removeNamespace(ns: string): void {
  try {
    for (const pid of ip("netns", "pids", ns).split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGCONT");
        process.kill(Number(pid), "SIGKILL");
      } catch {
        /* gone */
      }
    }
  } catch {
    /* no such namespace */
  }
  try {
    ip("netns", "del", ns);
  } catch {
    /* already gone */
  }
}

/** Namespaces left by drills whose process died (crash, SIGKILL). */
export function removeStaleNamespaces(): void {
  let list = "";
  try {
    list = ip("netns", "list");
  } catch {
    return;
  }
  for (const line of list.split("\n")) {
    const m = /^(regent-drill-(\d+)-\S+)/.exec(line);
    if (m && !pidAlive(Number(m[2]))) removeNamespace(m[1]!);
  }
}

/** Creates the namespaces, bridge and veths for `regions`. Call {@link teardownNetns} in a finally. */
export function setupNetns(regions: string[]): NetnsPlan {
  removeStaleNamespaces();
  const p = `${NS_PREFIX}${process.pid}`;
  const short = `rg${process.pid % 1_000_000}`; // interface names: at most 15 characters
  const plan: NetnsPlan = { core: `${p}-c`, bridge: `${short}br`, regions: {} };
  try {
    ip("netns", "add", plan.core);
    ip("-n", plan.core, "link", "set", "lo", "up");
    ip("-n", plan.core, "link", "add", plan.bridge, "type", "bridge");
    ip("-n", plan.core, "addr", "add", `${SUBNET}.1/24`, "dev", plan.bridge);
    ip("-n", plan.core, "link", "set", plan.bridge, "up");
    regions.forEach((r, i) => {
      const ns = `${p}-r${i}`;
      const veth = `${short}v${i}`;
      const addr = `${SUBNET}.${10 + i}`;
      plan.regions[r] = { ns, ip: addr, veth };
      ip("netns", "add", ns);
      ip("-n", ns, "link", "set", "lo", "up");
      ip("-n", plan.core, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns);
      ip("-n", plan.core, "link", "set", veth, "master", plan.bridge);
      ip("-n", plan.core, "link", "set", veth, "up");
      ip("-n", ns, "addr", "add", `${addr}/24`, "dev", "eth0");
      ip("-n", ns, "link", "set", "eth0", "up");
    });
  } catch (err) {
    teardownNetns(plan);
    throw new LaunchFailedError(`could not set up network namespaces: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
  return plan;
}

export function teardownNetns(plan: NetnsPlan): void {
  for (const r of Object.values(plan.regions)) removeNamespace(r.ns);
  removeNamespace(plan.core);
}

/** A nats-server inside a region's namespace. */
class NsMember extends Member implements FabricServer {
  constructor(
    name: string,
    readonly cluster: string,
    readonly region: string,
    readonly host: string,
    wrapper: string,
    dir: string,
    logDir: string,
    ports: readonly number[],
    routes: string[],
    gateways: { name: string; urls: string[] }[],
    ping: string | undefined,
  ) {
    const [client, route, gw, monitor] = ports as [number, number, number, number];
    super(name, wrapper, dir, join(dir, "jetstream"), join(logDir, `${name}.log`), client, monitor, route, true, undefined);
    const q = JSON.stringify;
    const lines = [
      `server_name: ${q(name)}`,
      // Pings on every connection (clients, routes, gateways): with the 2-minute default a partitioned peer
      // silently swallows what other clusters send it through a gateway for minutes (docs/drills.md).
      ...(ping ? [`ping_interval: ${q(ping)}`, "ping_max: 2"] : []),
      `listen: ${q(`${host}:${client}`)}`,
      `http: ${q(`${host}:${monitor}`)}`,
      `jetstream { store_dir: ${q(this.storeDir)} }`,
      // Pins the region's quorum bucket to this server (docs/topology.md).
      `server_tags: [${q(serverTag(name))}, ${q(`region:${region}`)}]`,
      `cluster { name: ${q(cluster)}, listen: ${q(`${host}:${route}`)}, routes: [${routes.map((u) => q(u)).join(", ")}] }`,
      `gateway { name: ${q(cluster)}, listen: ${q(`${host}:${gw}`)}, gateways: [${gateways.map((g) => `{ name: ${q(g.name)}, urls: [${g.urls.map((u) => q(u)).join(", ")}] }`).join(", ")}] }`,
    ];
    writeFileSync(this.configFile, lines.join("\n") + "\n");
  }
  override get url(): string {
    return `nats://${this.host}:${this.port}`;
  }
  override monitorUrl(path: string): string {
    return `http://${this.host}:${this.monitorPort}${path}`;
  }
}

interface Jsz {
  meta_cluster?: { leader?: string; cluster_size?: number };
  account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[];
}

/** The running server that itself reports leading `stream` (followers keep naming a dead leader for a while). */
async function streamLeaderOf(members: NsMember[], stream: string): Promise<string | undefined> {
  const views = await Promise.all(
    members.map(async (m) => {
      if (!m.running) return undefined;
      try {
        const jsz = await getJson<Jsz>(m.monitorUrl("/jsz?streams=true"), 1_000);
        for (const acc of jsz.account_details ?? []) {
          const s = acc.stream_detail?.find((x) => x.name === stream);
          if (s) return s.cluster?.leader;
        }
      } catch {
        /* no opinion */
      }
      return undefined;
    }),
  );
  return members.find((m, i) => views[i] === m.name)?.name;
}

/** The namespace supercluster (light mode). Must run inside the plan's core namespace. */
export class NetnsFabric implements Fabric {
  readonly kind = "netns" as const;
  private constructor(
    private readonly plan: NetnsPlan,
    private readonly members: NsMember[],
    private readonly group: NatsServerGroup,
  ) {}

  /** `ping`: nats-server `ping_interval` (e.g. "1s"); undefined keeps the server default (2m). */
  static async start(topology: Topology, plan: NetnsPlan, ping: string | undefined): Promise<NetnsFabric> {
    const bin = findNatsServer();
    const root = makeTempRoot("netns");
    const regions = topology.regions.map((r) => r.name);
    const at = (r: string) => plan.regions[r]!;
    const gateways = regions.map((r) => ({ name: r, urls: [`nats://${at(r).ip}:${PORTS.region[2]}`] }));
    const members: NsMember[] = [];
    for (const r of regions) {
      const wrapper = join(root, `ns-${r}.sh`);
      writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${at(r).ns} ${bin} "$@"\n`);
      chmodSync(wrapper, 0o755);
      const mk = (name: string, cluster: string, ports: readonly number[], routes: string[]) => {
        const dir = join(root, name);
        mkdirSync(dir);
        members.push(new NsMember(name, cluster, r, at(r).ip, wrapper, dir, root, ports, routes, gateways, ping));
      };
      // A one-server cluster in a supercluster needs a route (to itself), see nats-launcher.ts.
      mk(`${r}-1`, r, PORTS.region, [`nats-route://${at(r).ip}:${PORTS.region[1]}`]);
    }
    const group = new NatsServerGroup(members, "netns-supercluster", [root]);
    try {
      for (const m of members) m.spawn();
      await waitReady(members, () => NetnsFabric.ready(members), 90_000, "the namespace supercluster to form");
    } catch (err) {
      await group.stop();
      throw err;
    }
    return new NetnsFabric(plan, members, group);
  }

  /** Every server healthy with gateways to every running cluster, one meta leader counting everyone. */
  private static async ready(members: NsMember[]): Promise<boolean> {
    const up = new Set(members.filter((m) => m.running).map((m) => m.cluster));
    const views = await Promise.all(
      members.map(async (m) => {
        if (!(await healthy(m, true))) return undefined;
        const gwz = await getJson<{ outbound_gateways?: Record<string, { connection?: unknown }> }>(m.monitorUrl("/gatewayz"), 1_000);
        if (![...up].every((c) => c === m.cluster || gwz.outbound_gateways?.[c]?.connection !== undefined)) return undefined;
        const meta = (await getJson<Jsz>(m.monitorUrl("/jsz"), 1_000)).meta_cluster;
        return meta?.leader && (meta.cluster_size ?? 0) >= members.length ? meta.leader : undefined;
      }),
    );
    return views.every((l) => l !== undefined && l === views[0]);
  }

  allUrls(region: string): string[] {
    return this.members.filter((m) => m.cluster === region).map((m) => m.url);
  }
  get urls(): string[] {
    return this.members.map((m) => m.url);
  }
  servers(): FabricServer[] {
    return this.members;
  }
  async signal(server: string, sig: NodeJS.Signals): Promise<void> {
    const m = this.members.find((x) => x.name === server);
    if (!m) throw new LaunchFailedError(`no server ${server}`);
    await m.signal(sig);
  }
  async killRegion(region: string): Promise<void> {
    await Promise.all(this.members.filter((m) => m.region === region).map((m) => m.signal("SIGKILL")));
  }
  streamLeader(stream: string): Promise<string | undefined> {
    return streamLeaderOf(this.members, stream);
  }
  nodeWrapper(region: string): string[] {
    return ["ip", "netns", "exec", this.plan.regions[region]!.ns];
  }
  async partition(region: string): Promise<void> {
    ip("-n", this.plan.core, "link", "set", this.plan.regions[region]!.veth, "down");
  }
  async heal(region: string): Promise<void> {
    ip("-n", this.plan.core, "link", "set", this.plan.regions[region]!.veth, "up");
  }
  async stop(): Promise<void> {
    for (const r of Object.keys(this.plan.regions)) await this.heal(r).catch(() => undefined);
    for (const m of this.members) if (m.running) await m.signal("SIGCONT");
    await this.group.stop();
  }
}
