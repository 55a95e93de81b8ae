/**
 * Leader and scope events are plain NATS messages on documented subjects,
 * backed by a small JetStream stream placed in the global cluster.
 *
 * Publishers append to the stream on a *capture* subject (outside the live
 * subtree) with an ack, retrying until acked, de-duplicated by message id;
 * the stream republishes each message it *stores* once onto the live
 * subject. So a retry after a lost ack never reaches a live subscriber twice
 * (with plain JetStream publishes on the live subject, each retry was also
 * delivered to every core subscriber: 3–4 copies of one event during a
 * region loss). The price: a live event waits for the stream to store it.
 *
 * Anyone can just subscribe to the live subjects; a consumer that must not
 * miss anything (an audit log, a test) reads the stream, from the start or
 * from any sequence (the republished message carries `Nats-Sequence`, so a
 * live subscriber can see gaps and catch up from the stream).
 */
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, DiscardPolicy, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ConfigError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { decodeEvent, encodeEvent, type LeaderEvent, type ScopeEvent } from "../wire/events.js";
import { subjects } from "../wire/subjects.js";
import { GLOBAL_CLUSTER } from "./deployment.js";

/**
 * Stream capturing a deployment's events. Named apart from the
 * `regent-events-<cluster>` stream of regent ≤ 0.1, which captured the live
 * subjects directly (2.9 cannot add `republish` to an existing stream): that
 * one can be deleted once no node of the old version runs.
 */
export const eventsStreamName = (cluster: string) => `regent-log-${cluster}`;
/** `region`'s own events stream, in its own cluster (issue 11): a region that is down takes only its own events with it. */
export const regionEventsStreamName = (cluster: string, region: string) => `regent-log-${cluster}-${region}`;

/**
 * Creates the events stream when missing (idempotent). An existing stream
 * is checked first: anyone allowed to create it while it was missing (every
 * node identity, docs/security.md) chose its config, and a `republish`
 * onto another subject would carry their permitted appends onto subjects
 * they may not publish (a resign request), `sources`/`mirror` would fill it
 * from elsewhere. Such a stream is refused with a {@link ConfigError}, so no
 * node publishes into it until an operator deletes it.
 */
export async function ensureEventsStream(nc: NatsConnection, cluster: string, replicas: number, opts: { placement?: boolean; timeoutMs?: number } = {}): Promise<void> {
  const jsm = await jetstreamManager(nc, { timeout: opts.timeoutMs ?? 5_000 });
  const name = eventsStreamName(cluster);
  const s = subjects(cluster);
  const wanted = { subjects: [s.capture.all], republish: { src: s.capture.all, dest: s.all } };
  let existing;
  try {
    existing = await jsm.streams.info(name);
  } catch {
    /* missing: create below */
  }
  if (existing) {
    const c = existing.config;
    const rp = c.republish;
    if (rp && (rp.src !== wanted.republish.src || rp.dest !== wanted.republish.dest || rp.headers_only)) {
      throw new ConfigError("events stream", `${name} republishes ${rp.src} → ${rp.dest}, not regent's ${wanted.republish.src} → ${wanted.republish.dest}; delete it (operator) so that a node recreates it`);
    }
    if (c.mirror || (c.sources?.length ?? 0) > 0) throw new ConfigError("events stream", `${name} is fed from other streams (mirror or sources); delete it (operator) so that a node recreates it`);
    return;
  }
  try {
    await jsm.streams.add({
      name,
      ...wanted,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      num_replicas: replicas,
      max_msgs_per_subject: 10_000,
      // An audit trail, not lease state: expiring old events is harmless.
      max_age: 7 * 24 * 3600 * 1e9,
      duplicate_window: 120 * 1e9,
      ...(opts.placement === false ? {} : { placement: { cluster: GLOBAL_CLUSTER, tags: [] } }),
    });
  } catch (err) {
    // Another node created it first.
    if (!/already in use|exists/i.test((err as Error).message)) throw err;
  }
}

type Event = LeaderEvent | ScopeEvent;

/** Id used for de-duplication: one event per (kind, lease, holder, token). */
function msgId(e: Event): string {
  return "tier" in e ? `${e.kind}.${e.tier}.${e.region}.${e.node}.${e.token}` : `${e.kind}.scope.${e.scope}.${e.region}.${e.node}.${e.token}`;
}

function subjectOf(cluster: string, e: Event): string {
  const s = subjects(cluster);
  if ("tier" in e) return e.tier === "region" ? s.regionLeader(e.region) : s.globalLeader;
  return s.scope(e.scope);
}

/**
 * Publishes events in order, each acked by the stream before the next is
 * sent, retrying through outages for up to `maxAgeMs` per event (then the
 * event is dropped and logged: the KV stays the source of truth).
 */
export class EventPublisher {
  private readonly js: JetStreamClient;
  private readonly queue: { e: Event; since: number }[] = [];
  private running = false;
  private closed = false;
  /** Events given up on after `maxAgeMs`. */
  dropped = 0;
  published = 0;
  /** Append attempts, retries included. */
  attempts = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly cluster: string,
    private readonly log?: Logger,
    private readonly maxAgeMs = 60_000,
  ) {
    this.js = jetstream(nc, { timeout: 2_000 });
  }

  /** Queues an event; never throws. */
  publish(e: Event): void {
    if (this.closed) return;
    this.queue.push({ e, since: Date.now() });
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    let delay = 100;
    while (this.queue.length && !this.closed) {
      const head = this.queue[0]!;
      try {
        this.attempts++;
        await this.js.publish(subjects(this.cluster).capture.of(subjectOf(this.cluster, head.e)), encodeEvent(head.e), { msgID: msgId(head.e), timeout: 2_000 });
        this.queue.shift();
        this.published++;
        delay = 100;
      } catch (err) {
        if (Date.now() - head.since > this.maxAgeMs) {
          this.queue.shift();
          this.dropped++;
          this.log?.warn({ err: (err as Error).message, event: msgId(head.e) }, "event dropped after retries");
          continue;
        }
        this.log?.debug({ err: (err as Error).message }, "event publish failed; retrying");
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(2_000, delay * 2);
      }
    }
    this.running = false;
  }

  /** Waits (up to `timeoutMs`) for queued events to be acked, then stops. */
  async close(timeoutMs = 3_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while ((this.queue.length || this.running) && Date.now() < end && !this.nc.isClosed()) await new Promise((r) => setTimeout(r, 20));
    this.closed = true;
  }
}

/**
 * Reads the events stream from `fromSeq` (default: the start) until it has
 * caught up with the stream's last sequence at call time. For audits, tests
 * and `regent watch --replay`.
 */
export async function readEventsStream(nc: NatsConnection, cluster: string, opts: { fromSeq?: number; timeoutMs?: number } = {}): Promise<{ seq: number; subject: string; event: LeaderEvent | ScopeEvent }[]> {
  const jsm = await jetstreamManager(nc, { timeout: opts.timeoutMs ?? 5_000 });
  const name = eventsStreamName(cluster);
  const last = (await jsm.streams.info(name)).state.last_seq;
  const out: { seq: number; subject: string; event: LeaderEvent | ScopeEvent }[] = [];
  if (last < (opts.fromSeq ?? 1)) return out;
  const js = jetstream(nc, { timeout: opts.timeoutMs ?? 5_000 });
  const consumer = await js.consumers.get(name, { opt_start_seq: opts.fromSeq ?? 1 });
  const msgs = await consumer.consume();
  for await (const m of msgs) {
    try {
      out.push({ seq: m.seq, subject: subjects(cluster).capture.live(m.subject), event: decodeEvent(m.data) as LeaderEvent | ScopeEvent });
    } catch {
      /* not ours: skip */
    }
    if (m.seq >= last) break;
  }
  await msgs.close();
  return out;
}
