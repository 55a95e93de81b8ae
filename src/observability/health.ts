/**
 * Liveness and readiness of a node for orchestrators (Kubernetes probes,
 * compose healthchecks), served next to `/metrics`:
 *
 * - `/healthz` (liveness): the process answers, and its event loop has not
 *   stalled recently. While the loop is blocked nothing answers at all (the
 *   probe times out, which counts as a failure); right after a stall the node
 *   says so for `recentStallMs`, so repeated stalls fail consecutive probes.
 * - `/readyz` (readiness): connected to NATS, and the node's regional election
 *   is running (buckets opened, not stopping). A node that is not ready can
 *   still be healthy: it is riding out an outage, which a restart would not fix.
 *
 * Both answer JSON with the reasons, for humans reading a probe failure.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { subscribeStalls, type StallInfo } from "./stall-shared.js";
import { monotonicNowMs } from "../util/clock.js";

/** One probe's answer. */
export interface ProbeResult {
  ok: boolean;
  /** `ok`, `stalled`, `starting`, `disconnected`, `stopping`… */
  status: string;
  [detail: string]: unknown;
}

/** What readiness needs to know about the node (a `RegentNode` satisfies it). */
export interface ReadinessNode {
  readonly id: string;
  readonly region: string;
  /** Node machine state path; `running…` while its regional election runs. */
  state(): string;
  regional(): { held: boolean };
  global(): { held: boolean };
}

export interface NodeHealthOptions {
  /** A loop lag above this counts as a stall (default 500 ms). */
  stallThresholdMs?: number;
  /** How long after a stall `/healthz` keeps failing (default 10 000 ms). */
  recentStallMs?: number;
  /** Monotonic clock (tests). */
  now?: () => number;
  /** Stall source (tests); default the process-wide shared monitor. */
  subscribeStalls?: (thresholdMs: number, listener: (s: StallInfo) => void) => () => void;
}

/** Health state of one node process. */
export class NodeHealth {
  private connected = false;
  private node: ReadinessNode | null = null;
  private stopping = false;
  private lastStall: StallInfo | null = null;
  private stalls = 0;
  private readonly now: () => number;
  private readonly recentMs: number;
  private readonly offStalls: () => void;
  private readonly listeners = new Set<(what: "stall" | "connection") => void>();

  constructor(opts: NodeHealthOptions = {}) {
    this.now = opts.now ?? monotonicNowMs;
    this.recentMs = opts.recentStallMs ?? 10_000;
    this.offStalls = (opts.subscribeStalls ?? subscribeStalls)(opts.stallThresholdMs ?? 500, (s) => {
      this.stalls++;
      this.lastStall = s;
      this.notify("stall");
    });
  }

  /** Follows a connection's status until it closes or `signal` aborts. */
  followConnection(nc: NatsConnection, signal?: AbortSignal): void {
    this.setConnected(!nc.isClosed());
    void (async () => {
      for await (const s of nc.status()) {
        if (signal?.aborted) break;
        if (s.type === "disconnect" || s.type === "close") this.setConnected(false);
        else if (s.type === "reconnect") this.setConnected(true);
      }
    })();
    void nc.closed().then(() => this.setConnected(false));
  }

  setConnected(connected: boolean): void {
    if (this.connected === connected) return;
    this.connected = connected;
    this.notify("connection");
  }

  /** The node once its buckets are open and its elections started. */
  setNode(node: ReadinessNode | null): void {
    this.node = node;
  }

  /** Shutdown began: no longer ready (an orchestrator should stop routing to it). */
  setStopping(): void {
    this.stopping = true;
  }

  /** Called on every stall and connection change (tests synchronise on it). */
  onChange(fn: (what: "stall" | "connection") => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  liveness(): ProbeResult {
    const s = this.lastStall;
    const agoMs = s ? this.now() - s.at : null;
    if (s && agoMs !== null && agoMs < this.recentMs) {
      return { ok: false, status: "stalled", stallMs: Math.round(s.durationMs), agoMs: Math.round(agoMs), stalls: this.stalls };
    }
    return { ok: true, status: "ok", stalls: this.stalls, lastStallAgoMs: agoMs === null ? null : Math.round(agoMs) };
  }

  readiness(): ProbeResult {
    const reasons: string[] = [];
    if (this.stopping) reasons.push("stopping");
    if (!this.connected) reasons.push("NATS disconnected");
    const n = this.node;
    if (!n) reasons.push("starting: lease buckets not open yet");
    else if (!n.state().startsWith("running")) reasons.push(`regional election not running (${n.state()})`);
    const roles = n ? { node: n.id, region: n.region, regionalLeader: n.regional().held, globalLeader: n.global().held } : {};
    if (reasons.length) {
      const status = this.stopping ? "stopping" : !this.connected ? "disconnected" : "starting";
      return { ok: false, status, reasons, ...roles };
    }
    return { ok: true, status: "ok", ...roles };
  }

  close(): void {
    this.offStalls();
    this.listeners.clear();
  }

  private notify(what: "stall" | "connection"): void {
    for (const l of [...this.listeners]) l(what);
  }
}
