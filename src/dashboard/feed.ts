/**
 * What the dashboard shows, gathered in the CLI process from NATS:
 * - live events from `regent.<cluster>.>` (each stored event is republished
 *   once by its region's events stream; `Nats-Stream` and `Nats-Sequence`
 *   identify it), with the recent history read from every region's stream
 *   that answers at start and any gap left by a reconnect filled from them
 *   (a dead region's stream is skipped, not waited for);
 * - the `state` snapshot, asked on a timer and right after each event. The
 *   request goes to any live node (queue group) and each row has its own
 *   deadline there, so a dead region is never polled directly: its rows just
 *   read `unreachable`.
 * Actions (resign, failover, failback) send the same requests as the CLI.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { readEventsStreams } from "../hierarchy/events-stream.js";
import { regionOfEventsStream } from "../wire/names.js";
import { decodeEvent, type LeaderEvent, type ScopeEvent, type StateSnapshot } from "../wire/events.js";
import { subjects } from "../wire/subjects.js";
import { requestMove, requestResign, requestState } from "../wire/requests.js";

/** One timeline entry. */
export interface TimelineEntry {
  /** Sequence in its region's events stream (with `region`, the identity of a stored event); null for an event without one. */
  seq: number | null;
  /** Region whose events stream stored it; null when unknown. */
  region?: string | null;
  subject: string;
  event: LeaderEvent | ScopeEvent;
  /** Wall-clock ms when the dashboard received it. */
  receivedAt: number;
  /** `live`, or `history`/`gap` when read from the events stream. */
  via: "live" | "history" | "gap";
}

/** A state snapshot with how it was obtained. */
export interface StateUpdate {
  state: StateSnapshot | null;
  /** Request round trip, ms. */
  latencyMs: number | null;
  /** Why the last request failed; null when it answered. */
  error: string | null;
  /** Wall-clock ms of the last answer. */
  answeredAt: number | null;
}

export type FeedUpdate = { type: "state"; update: StateUpdate } | { type: "event"; entry: TimelineEntry } | { type: "connection"; connected: boolean; server: string | null };

export interface FeedOptions {
  cluster: string;
  /** State refresh period, ms (default 1000). */
  pollMs?: number;
  /** State request timeout, ms (default 1500). */
  stateTimeoutMs?: number;
  /** Timeline length kept (default 300). */
  keep?: number;
}

/** Counters for the measurements in the docs. */
export interface FeedStats {
  /** Live deliveries of stored events (duplicates included). */
  deliveries: number;
  /** Live deliveries whose sequence was already seen. */
  duplicates: number;
  /** Events added from the stream after a reconnect. */
  gapFilled: number;
}

export class DashboardFeed {
  readonly timeline: TimelineEntry[] = [];
  latest: StateUpdate = { state: null, latencyMs: null, error: null, answeredAt: null };
  connected = true;
  readonly stats: FeedStats = { deliveries: 0, duplicates: 0, gapFilled: 0 };
  /** Stored events seen, as `<region>#<seq>`. */
  private readonly seen = new Set<string>();
  /** Highest sequence seen per region's stream. */
  private readonly maxSeq = new Map<string, number>();
  private readonly listeners = new Set<(u: FeedUpdate) => void>();
  private readonly ac = new AbortController();
  private sub: Subscription | null = null;
  private refreshSoon: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;
  private dirty = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: FeedOptions,
  ) {}

  get cluster(): string {
    return this.opts.cluster;
  }

  /** Subscribes, loads recent history, and starts the state loop. */
  async start(signal?: AbortSignal): Promise<void> {
    signal?.addEventListener("abort", () => this.stop(), { once: true });
    const s = subjects(this.opts.cluster);
    this.sub = this.nc.subscribe(s.all);
    void this.consume(this.sub);
    void this.followConnection();
    await this.readHistory("history").catch(() => undefined);
    void this.stateLoop();
  }

  on(fn: (u: FeedUpdate) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  stop(): void {
    this.ac.abort();
    this.sub?.unsubscribe();
    if (this.refreshSoon) clearTimeout(this.refreshSoon);
    this.wake?.();
  }

  resign(who: { region?: string; global?: boolean }) {
    return requestResign(this.nc, this.opts.cluster, who, 5_000);
  }

  move(scope: string, reason: "manual" | "failback", to?: string) {
    return requestMove(this.nc, this.opts.cluster, { scope, reason, ...(to ? { to } : {}) }, 15_000);
  }

  /** Asks for a fresh snapshot now (e.g. after an action). */
  refresh(): void {
    if (this.refreshSoon) return;
    // Coalesces a burst of events (a failover publishes several) into one request.
    this.refreshSoon = setTimeout(() => {
      this.refreshSoon = null;
      this.dirty = true;
      this.wake?.();
    }, 100);
  }

  private emit(u: FeedUpdate): void {
    for (const l of [...this.listeners]) l(u);
  }

  private add(entry: TimelineEntry): void {
    if (entry.seq !== null && entry.region) {
      const id = `${entry.region}#${entry.seq}`;
      if (this.seen.has(id)) {
        if (entry.via === "live") this.stats.duplicates++;
        return;
      }
      this.seen.add(id);
      this.maxSeq.set(entry.region, Math.max(this.maxSeq.get(entry.region) ?? 0, entry.seq));
    }
    this.timeline.push(entry);
    // Each region's stream numbers its own events: order by the publisher's wall time (display order).
    if (entry.via !== "history") this.timeline.sort((a, b) => a.event.at - b.event.at || a.receivedAt - b.receivedAt);
    const keep = this.opts.keep ?? 300;
    if (this.timeline.length > keep) this.timeline.splice(0, this.timeline.length - keep);
    this.emit({ type: "event", entry });
    this.refresh();
  }

  private async consume(sub: Subscription): Promise<void> {
    for await (const m of sub) {
      // Requests share the subtree; only events are shown.
      if (/\.(resign|state|move)$/.test(m.subject)) continue;
      let event;
      try {
        event = decodeEvent(m.data);
      } catch {
        continue;
      }
      if (event.kind === "state") continue;
      const seq = Number(m.headers?.get("Nats-Sequence")) || null;
      const region = regionOfEventsStream(this.opts.cluster, m.headers?.get("Nats-Stream") ?? "");
      this.stats.deliveries++;
      this.add({ seq, region, subject: m.subject, event, receivedAt: Date.now(), via: "live" });
    }
  }

  /** Recent history at start; after a reconnect, whatever was stored while we were away. */
  private async readHistory(via: "history" | "gap"): Promise<void> {
    const fromSeq = Object.fromEntries([...this.maxSeq].map(([region, seq]) => [region, seq + 1]));
    const read = await readEventsStreams(this.nc, this.opts.cluster, {
      timeoutMs: 2_000,
      ...(via === "history" ? { tail: this.opts.keep ?? 300 } : { fromSeq }),
    });
    for (const r of read.events) {
      if (this.seen.has(`${r.region}#${r.seq}`)) continue;
      if (via === "gap") this.stats.gapFilled++;
      this.add({ seq: r.seq, region: r.region, subject: r.subject, event: r.event, receivedAt: Date.now(), via });
    }
  }

  private async followConnection(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.ac.signal.aborted) break;
      if (s.type === "disconnect" || s.type === "reconnect") {
        this.connected = s.type === "reconnect";
        this.emit({ type: "connection", connected: this.connected, server: this.connected ? (this.nc.getServer() ?? null) : null });
        if (this.connected) {
          this.refresh();
          void this.readHistory("gap").catch(() => undefined);
        }
      }
    }
  }

  private async stateLoop(): Promise<void> {
    while (!this.ac.signal.aborted) {
      const t0 = performance.now();
      try {
        const state = await requestState(this.nc, this.opts.cluster, this.opts.stateTimeoutMs ?? 1_500);
        this.latest = { state, latencyMs: Math.round((performance.now() - t0) * 10) / 10, error: null, answeredAt: Date.now() };
      } catch (err) {
        // Keep the last snapshot on screen, marked stale by the page.
        this.latest = { ...this.latest, error: (err as Error).message.split(";")[0]!, latencyMs: null };
      }
      this.emit({ type: "state", update: this.latest });
      if (this.dirty) {
        // An event arrived while the request was in flight: ask again now.
        this.dirty = false;
        continue;
      }
      // Sleep until the next period or until an event asks for a refresh.
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, this.latest.error ? 200 : (this.opts.pollMs ?? 1_000));
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.wake = done;
      });
      this.wake = null;
      this.dirty = false;
    }
  }
}
