/**
 * Prometheus metrics (prom-client) for a node: who leads, how often it
 * changes, how long renew writes take, how much validity is left, stalls,
 * store errors and scope moves. One registry per node; `serveMetrics` exposes
 * it on `/metrics`.
 */
import { createServer, type Server } from "node:http";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { CallOptions, LeaseStore, StoreEntry, WatchOptions } from "../lease/store.js";
import type { NodeRoleEvent, RegentNode } from "../hierarchy/node.js";
import type { NodeHealth } from "./health.js";

export class RegentMetrics {
  readonly registry = new Registry();
  readonly leader = new Gauge({ name: "regent_leader", help: "1 while this node holds the lease", labelNames: ["lease"], registers: [this.registry] });
  readonly token = new Gauge({ name: "regent_fencing_token", help: "Fencing token of the current term (0 when not held)", labelNames: ["lease"], registers: [this.registry] });
  readonly transitions = new Counter({ name: "regent_transitions_total", help: "Leadership changes of this node", labelNames: ["lease", "kind", "reason"], registers: [this.registry] });
  readonly validity = new Gauge({ name: "regent_lease_remaining_seconds", help: "Validity left on the current term", labelNames: ["lease"], registers: [this.registry] });
  readonly storeLatency = new Histogram({
    name: "regent_store_op_seconds",
    help: "Latency of lease store operations (renewals are update)",
    labelNames: ["store", "op", "outcome"],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly stalls = new Counter({ name: "regent_event_loop_stalls_total", help: "Event-loop stalls detected", registers: [this.registry] });
  readonly scopeMoves = new Gauge({ name: "regent_scope_moves", help: "Scope moves made while this node was the lease authority", registers: [this.registry] });

  /** Follows a node's role events. */
  instrument(node: RegentNode): () => void {
    const off = node.on((e: NodeRoleEvent) => {
      const lease = "scope" in e ? `scope/${e.scope}` : e.tier === "region" ? `region/${node.region}` : "global";
      if (e.type === "elected" || e.type === "scope-held") {
        this.leader.set({ lease }, 1);
        this.token.set({ lease }, e.token);
        this.transitions.inc({ lease, kind: "acquired", reason: "" });
      } else if (e.type === "deposed" || e.type === "scope-ended") {
        this.leader.set({ lease }, 0);
        this.token.set({ lease }, 0);
        this.validity.set({ lease }, 0);
        this.transitions.inc({ lease, kind: "ended", reason: e.reason });
      }
    });
    const collect = () => {
      const now = node.monotonicNow();
      const roles: [string, { held: boolean; validUntil: number }][] = [
        [`region/${node.region}`, node.regional()],
        ["global", node.global()],
        ...node.heldScopes().map((s) => [`scope/${s}`, node.scope(s)] as [string, { held: boolean; validUntil: number }]),
      ];
      for (const [lease, r] of roles) this.validity.set({ lease }, r.held ? Math.max(0, (r.validUntil - now) / 1000) : 0);
      this.scopeMoves.set(node.scopeMoves());
    };
    const timer = setInterval(collect, 1000);
    timer.unref();
    return () => {
      off();
      clearInterval(timer);
    };
  }

  /** Wraps a store so every operation's latency and outcome is recorded. */
  instrumentStore(store: LeaseStore): LeaseStore {
    const h = this.storeLatency;
    const timed = async <T>(op: string, fn: () => Promise<T>): Promise<T> => {
      const end = h.startTimer({ store: store.name, op });
      try {
        const v = await fn();
        end({ outcome: "ok" });
        return v;
      } catch (err) {
        end({ outcome: (err as { code?: string }).code ?? "error" });
        throw err;
      }
    };
    return {
      name: store.name,
      get: (k: string, o?: CallOptions): Promise<StoreEntry | null> => timed("get", () => store.get(k, o)),
      create: (k: string, v: Uint8Array, o?: CallOptions) => timed("create", () => store.create(k, v, o)),
      update: (k: string, v: Uint8Array, r: number, o?: CallOptions) => timed("update", () => store.update(k, v, r, o)),
      delete: (k: string, r: number, o?: CallOptions) => timed("delete", () => store.delete(k, r, o)),
      keys: (f: string, o?: CallOptions) => timed("keys", () => store.keys(f, o)),
      watch: (f: string, o: WatchOptions) => store.watch(f, o),
    };
  }
}

/** Serves `/metrics` on 127.0.0.1 (or `host`), and `/healthz`, `/readyz` when given a {@link NodeHealth}. */
export function serveMetrics(metrics: RegentMetrics, port: number, host = "127.0.0.1", health?: NodeHealth): Promise<Server> {
  const server = createServer(async (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (health && (path === "/healthz" || path === "/readyz")) {
      const r = path === "/healthz" ? health.liveness() : health.readiness();
      res.writeHead(r.ok ? 200 : 503, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify(r) + "\n");
      return;
    }
    if (path !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": metrics.registry.contentType });
    res.end(await metrics.registry.metrics());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
