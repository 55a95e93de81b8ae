/**
 * `regent up` (the README's main command): starts the local NATS supercluster
 * described by regions/, the candidate node processes of every region, and a
 * live status table. Ctrl-C resigns every node and tears everything down.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { makeTempRoot } from "../launcher/nats-launcher.js";
import { liveTempDirs } from "../launcher/ports.js";
import { ensureSecrets, type Secrets } from "../launcher/secrets.js";
import { startSupercluster, type Supercluster } from "../launcher/supercluster.js";
import { superclusterPlan } from "../topology/plan.js";
import { identitiesOf } from "../topology/access.js";
import type { NatsAuth } from "../util/nats-auth.js";
import { RegentProcess, waitUntil } from "../launcher/candidates.js";
import { monotonicNowMs } from "../util/clock.js";
import { loadTopology } from "../topology/load.js";
import { onShutdown } from "./common.js";
import { connectNats } from "../util/nats-connect.js";
import { renderState } from "./observe-cmds.js";
import { requestState } from "../wire/requests.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { LocalExercise, type NodeSpec } from "../dashboard/controls.js";
import { DashboardFeed } from "../dashboard/feed.js";
import { startDashboardServer, type DashboardServer } from "../dashboard/server.js";
import { connectDashboard, leaseDurations } from "./dashboard.js";
import { defaultControlFile, removeControlFile, writeControlFile } from "./exercise.js";

export interface UpOptions {
  regions: string;
  mode: "light" | "full";
  /** Start, wait until every leader is elected, print the table, tear down and exit. */
  once?: boolean;
  /** Status refresh period, ms. */
  refreshMs: number;
  logDir?: string;
  /** No TLS, no authentication (the default is secure). */
  insecure?: boolean;
  /** false: no dashboard and no exercise controls. */
  dashboard?: boolean;
  dashboardHost?: string;
  dashboardPort?: number;
  /** Control file for `regent region|node <action>` (default per user and deployment). */
  control?: string;
}

const say = (s: string) => process.stdout.write(s + "\n");

export async function runUp(opts: UpOptions): Promise<void> {
  const topo = loadTopology(opts.regions);
  const t0 = monotonicNowMs();
  const total = superclusterPlan(topo, opts.mode).reduce((n, c) => n + c.servers.length, 0);
  say(`regent up: deployment "${topo.cluster}", ${topo.regions.length} regions, ${opts.mode} mode (${total} nats-servers)`);
  let sc: Supercluster | undefined;
  const nodes: RegentProcess[] = [];
  const actions: string[] = [];
  let dash: { server: DashboardServer; feed: DashboardFeed; nc: NatsConnection; controlFile: string } | undefined;
  let torn = false;
  let secretsDir: string | undefined;
  const teardown = async () => {
    if (torn) return;
    torn = true;
    if (dash) {
      removeControlFile(dash.controlFile);
      dash.feed.stop();
      await dash.server.close();
      await dash.nc.close().catch(() => undefined);
    }
    say("stopping nodes (each resigns its leases) and nats-servers…");
    await Promise.all(nodes.map((n) => n.stop()));
    await sc?.stop();
    if (secretsDir) {
      rmSync(secretsDir, { recursive: true, force: true });
      liveTempDirs.delete(secretsDir);
    }
  };
  onShutdown(teardown);
  try {
    // Secure by default: a CA, a server certificate and an nkey per identity,
    // made for this run in a temporary directory (removed on teardown).
    let secrets: Secrets | undefined;
    if (!opts.insecure) {
      secretsDir = makeTempRoot("secrets");
      secrets = await ensureSecrets(join(secretsDir, "secrets"), { identities: identitiesOf(topo), hostnames: [] }, { signal: AbortSignal.timeout(30_000) });
    }
    const as = (identity: string): NatsAuth => (secrets ? { nkey: secrets.seedFile(identity), tlsCa: secrets.client.ca } : {});
    const authArgs = (identity: string) => Object.entries({ "--nkey": as(identity).nkey, "--tls-ca": as(identity).tlsCa }).flatMap(([k, v]) => (v ? [k, v] : []));
    sc = await startSupercluster(topo, { mode: opts.mode, ...(opts.logDir ? { logDir: opts.logDir } : {}), ...(secrets ? { secrets } : {}) });
    say(`supercluster ready in ${((monotonicNowMs() - t0) / 1000).toFixed(1)} s; starting nodes`);
    const specs: NodeSpec[] = [];
    for (const r of topo.regions) {
      for (const id of r.candidateIds) {
        const args = ["node", "--json", "--region", r.name, "--id", id, "--regions", opts.regions, "--mode", opts.mode, "--servers", sc.allUrls(r.name).join(","), ...authArgs(`node-${r.name}`)];
        specs.push({ id, region: r.name, args });
        nodes.push(new RegentProcess(id, args));
      }
    }
    if (opts.dashboard !== false && !opts.once) {
      // Its own connection to every server of every region, so it follows
      // whichever region survives: on a region server the local nodes answer
      // a state request, which otherwise crosses a gateway, and a paused
      // region's cluster keeps looking alive to the gateway for minutes.
      // The operator identity: its buttons resign leaders and move scopes.
      const dnc = await connectDashboard(sc.urls, as("operator"));
      const feed = new DashboardFeed(dnc, { cluster: topo.cluster });
      await feed.start();
      const controls = new LocalExercise(sc, nodes, specs, (_req, r) => {
        const line = `${new Date().toLocaleTimeString([], { hour12: false })} ${r.ok ? "" : "FAILED: "}${r.message}`;
        actions.push(line);
        if (actions.length > 5) actions.shift();
        say(line);
      });
      const server = await startDashboardServer({ source: feed, controls, leases: leaseDurations(topo), host: opts.dashboardHost ?? "127.0.0.1", port: opts.dashboardPort ?? 4280 });
      const controlFile = opts.control ?? defaultControlFile(topo.cluster);
      writeControlFile(controlFile, { url: server.url, token: server.token, cluster: topo.cluster, pid: process.pid });
      dash = { server, feed, nc: dnc, controlFile };
      say(`dashboard: ${server.controlUrl}`);
    }
    const regionalLeaders = () => topo.regions.filter((r) => nodes.some((n) => n.id.startsWith(`${r.name}-`) && n.leadingIn("region")));
    const globalLeader = () => nodes.find((n) => n.leadingIn("global"));
    await waitUntil(nodes, () => regionalLeaders().length === topo.regions.length && !!globalLeader(), 60_000, "every leader elected");
    say(`all leaders elected ${((monotonicNowMs() - t0) / 1000).toFixed(1)} s after start (global: ${globalLeader()!.id})`);

    // Every region's servers: whichever region is lost, the table keeps
    // refreshing through the others. The table needs only what an observer may do.
    const clientUrls = sc.urls;
    const nc = await connectNats(clientUrls, "regent-up", { auth: as("observer") });
    // Scopes are granted by the global leader once it has seen every region renew.
    for (let i = 0; i < 120; i++) {
      const s = await requestState(nc, topo.cluster, 2_000).catch(() => null);
      if (s && topo.regions.every((r) => s.scopes[r.name]?.state === "held")) {
        say(`every region's scope held ${((monotonicNowMs() - t0) / 1000).toFixed(1)} s after start`);
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    // The operator identity: the only one allowed to resign leaders and move scopes.
    const clientEnv = () =>
      `NATS_URL=${clientUrls.join(",")} ` + (secrets ? `NATS_CA=${secrets.client.ca} NATS_NKEY=${secrets.seedFile("operator")} ` : "");
    const footer = () => {
      const lines = [`\nclients: ${clientEnv()}regent watch | regent status | regent resign …   (Ctrl-C to stop)`];
      if (dash) {
        const r = topo.regions[0]!.name;
        lines.push(`dashboard: ${dash.server.controlUrl}`);
        lines.push(`exercise: regent region kill|pause|resume|restart <region>   regent node kill|pause|resume|restart <id>   (e.g. regent region kill ${r})`);
        if (dash.controlFile !== defaultControlFile(topo.cluster)) lines.push(`          (add --control ${dash.controlFile})`);
        if (actions.length) lines.push("", "recent actions:", ...actions.map((a) => `  ${a}`));
      }
      return lines.join("\n");
    };
    const show = async () => {
      try {
        const s = await requestState(nc, topo.cluster, 2_000);
        if (process.stdout.isTTY && !opts.once) process.stdout.write("\x1b[2J\x1b[H");
        say(renderState(s));
        if (!opts.once) say(footer());
      } catch (err) {
        say(`status unavailable: ${(err as Error).message}`);
      }
    };
    await show();
    if (opts.once) {
      await nc.close();
      return;
    }
    for (;;) {
      await new Promise((r) => setTimeout(r, opts.refreshMs));
      if (torn) break;
      await show();
    }
  } finally {
    await teardown();
  }
}
