/**
 * Prometheus metrics (prom-client) for a node: who leads, how often it
 * changes, how long store writes take, how much validity is left, stalls,
 * store errors and scope moves, plus prom-client's process and Node.js
 * metrics. One registry per node; `serveMetrics` exposes it on `/metrics`.
 * Every series is listed in docs/metrics.md (test/observability/metrics.test.ts
 * fails when the two disagree).
 *
 * Leases are labelled by `tier` (`region`, `global`, `scope`) and `name` (the
 * region, `global`, the scope), so a query selects a tier without parsing
 * names. The node and region a series comes from are the scrape target's
 * labels (`instance`, and `region` in the generated prometheus.yml), not
 * labels here: Prometheus would rename clashing ones.
 */
import { createServer, type Server } from "node:http";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { CallOptions, LeaseStore, StoreEntry, WatchOptions } from "../lease/store.js";
import type { NodeRoleEvent, RegentNode, Role } from "./node.js";
import type { NodeHealth } from "../observability/health.js";
import { subscribeStalls, type StallInfo } from "../observability/stall-shared.js";

/** The three kinds of lease a node holds. */
export type LeaseTier = "region" | "global" | "scope";

/** Options of {@link RegentMetrics}. */
export interface RegentMetricsOptions {
  /** Also register prom-client's default process and Node.js metrics (`process_*`, `nodejs_*`). Default true. */
  defaultMetrics?: boolean;
  /** An event-loop lag above this counts as a stall (default 500 ms, as `/healthz`). */
  stallThresholdMs?: number;
  /** Stall source (tests); default the process-wide shared monitor. */
  subscribeStalls?: (thresholdMs: number, listener: (s: StallInfo) => void) => () => void;
}

const LEASE = ["tier", "name"] as const;

export class RegentMetrics {
  readonly registry = new Registry();
  readonly leader = new Gauge({ name: "regent_leader", help: "1 while this node holds the lease, else 0", labelNames: LEASE, registers: [this.registry] });
  readonly token = new Gauge({ name: "regent_fencing_token", help: "Fencing token of this node's current term (0 when not held)", labelNames: LEASE, registers: [this.registry] });
  readonly transitions = new Counter({
    name: "regent_transitions_total",
    help: "Terms this node began (kind=acquired) and ended (kind=ended, with the reason)",
    labelNames: [...LEASE, "kind", "reason"],
    registers: [this.registry],
  });
  readonly validity = new Gauge({
    name: "regent_lease_remaining_seconds",
    help: "Validity left on this node's current term, at scrape time (0 when not held)",
    labelNames: LEASE,
    registers: [this.registry],
    collect: () => this.collectRoles(),
  });
  readonly storeLatency = new Histogram({
    name: "regent_store_op_seconds",
    help: "Latency of lease store operations by outcome (renewals are update; outcome is ok or the error code)",
    labelNames: ["store", "op", "outcome"],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly stalls = new Counter({ name: "regent_event_loop_stalls_total", help: "Event-loop stalls detected (lag above the threshold, or a host suspend)", registers: [this.registry] });
  readonly stallSeconds = new Counter({ name: "regent_event_loop_stall_seconds_total", help: "Total duration of the detected event-loop stalls", registers: [this.registry] });
  readonly scopeMoves = new Counter({
    name: "regent_scope_moves_total",
    help: "Scope grants to another region made while this node was the scope authority (global leader)",
    registers: [this.registry],
    collect: () => this.collectMoves(),
  });

  private readonly nodes = new Set<RegentNode>();
  /** Moves already counted, per node: the counter only ever adds the difference. */
  private readonly movesSeen = new Map<RegentNode, number>();
  private readonly offStalls: () => void;

  constructor(opts: RegentMetricsOptions = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    // Stalls are per process: every node in it is stalled together.
    this.offStalls = (opts.subscribeStalls ?? subscribeStalls)(opts.stallThresholdMs ?? 500, (s) => {
      this.stalls.inc();
      this.stallSeconds.inc(s.durationMs / 1000);
    });
  }

  /** Follows a node's role events; validity and moves are read at scrape time. Returns the function that stops following. */
  instrument(node: RegentNode): () => void {
    this.nodes.add(node);
    this.movesSeen.set(node, node.scopeMoves());
    const off = node.on((e: NodeRoleEvent) => {
      const l = "scope" in e ? { tier: "scope", name: e.scope } : e.tier === "region" ? { tier: "region", name: node.region } : { tier: "global", name: "global" };
      if (e.type === "elected" || e.type === "scope-held") {
        this.leader.set(l, 1);
        this.token.set(l, e.token);
        this.transitions.inc({ ...l, kind: "acquired", reason: "" });
      } else if (e.type === "deposed" || e.type === "scope-ended") {
        this.leader.set(l, 0);
        this.token.set(l, 0);
        this.validity.set(l, 0);
        this.transitions.inc({ ...l, kind: "ended", reason: e.reason });
      }
    });
    return () => {
      off();
      this.collectMoves(); // count the last moves before letting go
      this.nodes.delete(node);
      this.movesSeen.delete(node);
    };
  }

  /** Stops the stall subscription (the shared monitor stops with its last subscriber). */
  close(): void {
    this.offStalls();
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

  /** Remaining validity of every held role, measured now (a 1 s sampling timer would lag by up to 1 s). */
  private collectRoles(): void {
    for (const node of this.nodes) {
      const now = node.monotonicNow();
      const roles: [{ tier: LeaseTier; name: string }, Role][] = [
        [{ tier: "region", name: node.region }, node.regional()],
        [{ tier: "global", name: "global" }, node.global()],
        ...node.heldScopes().map((s) => [{ tier: "scope", name: s }, node.scope(s)] as [{ tier: LeaseTier; name: string }, Role]),
      ];
      for (const [l, r] of roles) this.validity.set(l, r.held ? Math.max(0, (r.validUntil - now) / 1000) : 0);
    }
  }

  private collectMoves(): void {
    for (const node of this.nodes) {
      const now = node.scopeMoves();
      const seen = this.movesSeen.get(node) ?? 0;
      if (now > seen) this.scopeMoves.inc(now - seen);
      this.movesSeen.set(node, Math.max(now, seen));
    }
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
    try {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { "content-type": metrics.registry.contentType });
      res.end(body);
    } catch (err) {
      // A failing collector must not leave the scrape hanging.
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(`metrics collection failed: ${(err as Error).message}\n`);
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
