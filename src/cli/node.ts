/**
 * `regent node`: one participant of a multi-region deployment described by
 * regions/. Connects to its own region's NATS servers, stands in its region's
 * election and, while regional leader, in the global one (a quorum lease over
 * every region's quorum bucket, docs/quorum.md); publishes leader events to
 * its region's events stream and answers state and resign requests. A NATS outage is ridden out,
 * from the first connection on: the node keeps retrying and never exits on
 * its own.
 */
import { hostname } from "node:os";
import { startNode, type NodeRoleEvent } from "../hierarchy/node.js";
import { serveNode } from "../hierarchy/bus.js";
import { ensureEventsStream, EventPublisher } from "../hierarchy/events-stream.js";
import { openStoreLayout, regionalLayout } from "../hierarchy/store-layout.js";
import { createLogger } from "../observability/logger.js";
import type { RegentMetrics } from "../hierarchy/metrics.js";
import type { LeaseStore } from "../lease/store.js";
import type { Server } from "node:http";
import { NodeHealth } from "../observability/health.js";
import { IntervalRecorder } from "../observability/oracle.js";
import { monotonicNowMs } from "../util/clock.js";
import { findRegion, loadTopology } from "../topology/load.js";
import { authOf, onShutdown, serverList } from "./common.js";
import { ConfigError } from "../errors.js";
import { connectNatsWaiting } from "../util/nats-connect.js";
import type { NatsConnection } from "@nats-io/transport-node";
import type { NatsAuth } from "../util/nats-auth.js";
import { startActLog } from "./act-log.js";

export interface NodeCliOptions extends NatsAuth {
  region: string;
  id?: string;
  regions: string;
  mode: "light" | "full";
  servers?: string;
  json?: boolean;
  intervals?: string;
  actLog?: string;
  logLevel?: string;
  metricsPort?: number;
  metricsHost?: string;
}

export async function runNode(opts: NodeCliOptions): Promise<void> {
  const topo = loadTopology(opts.regions);
  const region = findRegion(topo, opts.region);
  const id = opts.id ?? `${region.name}-${hostname()}-${process.pid}`;
  const log = createLogger({ level: (opts.logLevel as never) ?? "info", name: id });
  const servers = serverList(opts.servers);

  let stopping = false;
  const ac = new AbortController();
  // Served from the start, so a probe tells "waiting for NATS" or "still
  // opening buckets" (/readyz 503, /healthz 200) from "dead".
  // Metrics only when someone can scrape them: prom-client (with
  // @opentelemetry/api, ~80 modules), its default collectors and a timing
  // wrapper around every store are ~10 MB of an idle node's RSS otherwise.
  const health = new NodeHealth();
  let metrics: RegentMetrics | null = null;
  let metricsServer: Server | null = null;
  if (opts.metricsPort !== undefined) {
    const { RegentMetrics, serveMetrics } = await import("../hierarchy/metrics.js");
    metrics = new RegentMetrics();
    metricsServer = await serveMetrics(metrics, opts.metricsPort, opts.metricsHost ?? "127.0.0.1", health);
  }
  const instrument = (s: LeaseStore): LeaseStore => metrics?.instrumentStore(s) ?? s;
  // Until the node runs, a signal only has to end the waiting; replaced below.
  let shutdown = async () => {
    stopping = true;
    health.setStopping();
    ac.abort();
    metricsServer?.close();
    health.close();
    metrics?.close();
  };
  onShutdown(() => shutdown());
  // Never exit on our own, not even before the first connection: servers may
  // boot after the node (compose, an outage at start). Each failure is logged.
  let nc: NatsConnection;
  try {
    nc = await connectNatsWaiting(servers, `regent-node-${id}`, {
      auth: authOf(opts),
      signal: ac.signal,
      onRetry: (err, attempt, retryInMs) => log.warn({ err: err.message, attempt, retryInMs }, "first connection to NATS failed; retrying"),
    });
  } catch (err) {
    if (stopping) return;
    throw err;
  }
  log.info({ server: nc.getServer() }, "connected to NATS");
  health.followConnection(nc, ac.signal);
  // Buckets may be unreachable at start (region still booting, stream leader
  // election): retry rather than exit.
  let stores: Awaited<ReturnType<typeof openStoreLayout>> | undefined;
  // Every node of a deployment runs in the same mode: in full mode a region of
  // several servers elects on one single-replica bucket per server, so every
  // node derives the same layout for every region (docs/quorum.md).
  const layout = topo.regions.map((r) => regionalLayout(r, opts.mode));
  for (let attempt = 1; !stores; attempt++) {
    try {
      stores = await openStoreLayout(
        nc,
        {
          cluster: topo.cluster,
          region: region.name,
          regions: layout,
        },
        { signal: ac.signal },
      );
      await ensureEventsStream(nc, topo.cluster, region.name, opts.mode === "full" ? region.servers : 1);
    } catch (err) {
      if (stopping) return;
      log.warn({ err: (err as Error).message, attempt }, "opening buckets failed; retrying");
      await new Promise((r) => setTimeout(r, Math.min(2_000, 200 * attempt)));
    }
  }

  const events = new EventPublisher(nc, topo.cluster, region.name, log);
  // Other regions' buckets are bound lazily (openStoreLayout): a region that is down must not stop this node.
  const own = stores;
  const regionStore = async (name: string) => {
    const s = own.regions.get(name);
    if (!s) throw new ConfigError("region", `unknown region ${name}`, { named: true });
    return s;
  };
  const ownQuorum = (own.regions.get(region.name)?.length ?? 1) > 1;

  const node = startNode({
    cluster: topo.cluster,
    region: region.name,
    id,
    // One store, or (full mode) fresh objects of the region's per-server buckets for the regional election alone (Q3).
    regionalStore: ownQuorum ? () => own.regionalStores().map(instrument) : instrument(own.regionalStores()[0]!),
    // Each quorum participant gets store objects of its own (docs/quorum.md, Q3), in topology order.
    quorumStores: () => own.quorumStores().map(instrument),
    regionalTiming: { leaseMs: region.leaseMs, renewMs: region.renewMs },
    globalTiming: topo.global,
    logger: log,
    publish: (e) => events.publish(e),
    scopes: {
      timing: { leaseMs: topo.scopes.leaseMs, renewMs: topo.scopes.renewMs },
      failbackAfterMs: topo.scopes.failbackAfterMs,
      regions: topo.regions.map((r) => ({ name: r.name, failover: r.failover, leaseMs: r.leaseMs })),
      regionStore,
      storesPerRegion: (name) => own.regions.get(name)?.length ?? 1,
      publish: (e) => events.publish(e),
    },
  });
  metrics?.instrument(node);
  health.setNode(node);
  const unserve = serveNode(
    nc,
    node,
    { cluster: topo.cluster, regionNames: topo.regions.map((r) => r.name), quorum: stores.quorum, regionStore },
    log,
  );

  const recorder = opts.intervals ? new IntervalRecorder(opts.intervals) : null;
  const leaseName = (tier: string) => (tier === "region" ? `region/${region.name}` : "global");
  const validUntil: Record<string, number> = {};
  const print = (e: NodeRoleEvent | { type: "ready" | "stopped"; metricsPort?: number }) => {
    const line = { ...e, id, region: region.name, t: monotonicNowMs() };
    process.stdout.write(opts.json ? JSON.stringify(line) + "\n" : human(line) + "\n");
  };
  node.on((e) => {
    if (e.type === "scope-held" || e.type === "scope-renewed" || e.type === "scope-ended") {
      const lease = `scope/${e.scope}`;
      if (e.type === "scope-held") {
        validUntil[lease] = e.validUntil;
        recorder?.started(lease, id, e.token, e.validUntil);
      } else if (e.type === "scope-renewed") {
        recorder?.extended(lease, id, e.token, e.validUntil);
        validUntil[lease] = e.validUntil;
        if (!opts.json) return;
      } else {
        recorder?.ended(lease, id, e.token, Math.min(monotonicNowMs(), validUntil[lease] ?? Infinity));
      }
      print(e);
      return;
    }
    if (e.type === "elected") {
      validUntil[e.tier] = e.validUntil;
      recorder?.started(leaseName(e.tier), id, e.token, e.validUntil);
    } else if (e.type === "renewed") {
      // Renewals move the deadline the oracle may assume for a killed process.
      if (e.validUntil !== validUntil[e.tier]) recorder?.extended(leaseName(e.tier), id, e.token, e.validUntil);
      validUntil[e.tier] = e.validUntil;
      if (!opts.json) return; // one line per renewal would drown a human
    } else if (e.type === "deposed") {
      recorder?.ended(leaseName(e.tier), id, e.token, Math.min(monotonicNowMs(), validUntil[e.tier] ?? Infinity));
    }
    print(e);
  });
  if (opts.actLog) {
    const tiers = (["region", "global"] as const).map((tier) => ({ lease: leaseName(tier), role: () => (tier === "region" ? node.regional() : node.global()) }));
    startActLog(opts.actLog, id, () => [...tiers, ...node.heldScopes().map((scope) => ({ lease: `scope/${scope}`, role: () => node.scope(scope) }))]);
  }

  shutdown = async () => {
    stopping = true;
    health.setStopping();
    ac.abort();
    unserve();
    metricsServer?.close();
    await node.stop({ signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
    await events.close();
    print({ type: "stopped" });
    recorder?.close();
    await nc.close().catch(() => undefined);
    health.close();
    metrics?.close();
  };
  const addr = metricsServer?.address();
  print({ type: "ready", ...(addr && typeof addr === "object" ? { metricsPort: addr.port } : {}) });
}

function human(l: Record<string, unknown>): string {
  const who = `${String(l.id)}`;
  switch (l.type) {
    case "elected":
      return `${who} ${l.tier === "global" ? "GLOBAL" : "REGIONAL"} LEADER token=${l.token}`;
    case "deposed":
      return `${who} ${l.tier === "global" ? "global" : "regional"} role ended token=${l.token} reason=${l.reason}`;
    case "leader-changed":
      return `${who} sees ${l.tier} leader=${l.leader ?? "-"} token=${l.token ?? "-"}`;
    case "scope-held":
      return `${who} SCOPE ${l.scope} held token=${l.token}`;
    case "scope-ended":
      return `${who} scope ${l.scope} ended token=${l.token} reason=${l.reason}`;
    default:
      return `${who} ${String(l.type)}`;
  }
}
