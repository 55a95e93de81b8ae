/**
 * `regent dashboard`: the live web dashboard for any deployment, served on
 * loopback from this process (it connects to the given NATS servers; the
 * browser never talks to NATS). `regent up` serves the same page with the
 * exercise controls added.
 */
import { DashboardFeed } from "../dashboard/feed.js";
import { startDashboardServer, type LeaseDurations } from "../dashboard/server.js";
import type { Topology } from "../topology/schema.js";
import { authOf, onShutdown, serverList } from "./common.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect } from "@nats-io/transport-node";
import { StoreUnavailableError } from "../errors.js";
import { natsAuthOptions, redactUrl, type NatsAuth } from "../util/nats-auth.js";

export interface DashboardCliOptions extends NatsAuth {
  servers?: string;
  cluster: string;
  topology?: Topology;
  host: string;
  port: number;
}

/** Lease durations and failover order from the topology, for the page. */
export function leaseDurations(t: Topology): LeaseDurations {
  return {
    regions: Object.fromEntries(t.regions.map((r) => [r.name, r.leaseMs])),
    global: t.global.leaseMs,
    scopes: t.scopes.leaseMs,
    failover: Object.fromEntries(t.regions.map((r) => [r.name, r.failover])),
  };
}

/**
 * The dashboard's own NATS connection. Pings every 2 s (2 missed = dead): a
 * *paused* server keeps its TCP connection open, and the default 5 s × 2
 * would leave the page stale for up to 15 s before moving to another server.
 */
export async function connectDashboard(servers: string[], auth: NatsAuth = {}): Promise<NatsConnection> {
  const options = natsAuthOptions(auth);
  try {
    return await connect({ ...options, servers, name: "regent-dashboard", reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 250, pingInterval: 2_000, maxPingOut: 2, timeout: 5_000, noAsyncTraces: true });
  } catch (err) {
    throw new StoreUnavailableError(`cannot connect to NATS at ${servers.map(redactUrl).join(",")}: ${(err as Error).message}`, { cause: err });
  }
}

export async function runDashboard(opts: DashboardCliOptions): Promise<void> {
  const nc = await connectDashboard(serverList(opts.servers), authOf(opts));
  const feed = new DashboardFeed(nc, { cluster: opts.cluster });
  await feed.start();
  const server = await startDashboardServer({ source: feed, host: opts.host, port: opts.port, ...(opts.topology ? { leases: leaseDurations(opts.topology) } : {}) });
  process.stdout.write(`dashboard: ${server.controlUrl}\n  (read-only without the #token part; resign/failover/failback buttons need it)\n`);
  if (opts.host !== "127.0.0.1" && opts.host !== "localhost") process.stderr.write(`regent: the dashboard listens on ${opts.host}, not only loopback: anyone with the token can resign leaders and move scopes\n`);
  onShutdown(async () => {
    feed.stop();
    await server.close();
    await nc.close().catch(() => undefined);
  });
}
