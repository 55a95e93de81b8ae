/**
 * Leader and scope events are plain NATS messages on documented subjects,
 * backed by one small JetStream stream per region, placed in that region's
 * own cluster (issue 11): a node appends only to its own region's stream, so
 * a region that is down takes only its own events with it.
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
import { ConfigError, StoreUnavailableError } from "../errors.js";
import { untilAborted } from "../util/timers.js";
import type { Logger } from "../observability/logger.js";
import { decodeEvent, encodeEvent, eventMsgId, type LeaderEvent, type ScopeEvent } from "../wire/events.js";
import { eventsStreamName, regionEventsStreamName, regionOfEventsStream } from "../wire/names.js";
import { subjects } from "../wire/subjects.js";

/** Options of {@link ensureEventsStream}. */
export interface EventsStreamOptions {
  /** Set false to place nothing (single-cluster setups, tests). Default true: the region's own cluster. */
  placement?: boolean;
  timeoutMs?: number;
}

/**
 * Creates `region`'s events stream when missing (idempotent): in the
 * region's own cluster with `replicas` (1 in light mode, the region's
 * `servers` in full mode), capturing the region's capture subtree and
 * republishing it onto the live subjects. An existing stream is checked
 * first: anyone allowed to create it while it was missing (every node
 * identity, docs/security.md) chose its config, and a `republish` onto
 * another subject would carry their permitted appends onto subjects they may
 * not publish (a resign request), `sources`/`mirror` would fill it from
 * elsewhere. Such a stream is refused with a {@link ConfigError}, so no node
 * publishes into it until an operator deletes it.
 */
export async function ensureEventsStream(nc: NatsConnection, cluster: string, region: string, replicas: number, opts: EventsStreamOptions = {}): Promise<void> {
  const jsm = await jetstreamManager(nc, { timeout: opts.timeoutMs ?? 5_000 });
  const name = regionEventsStreamName(cluster, region);
  const s = subjects(cluster);
  const capture = s.capture.region(region);
  const wanted = { subjects: [capture], republish: { src: capture, dest: s.all } };
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
      ...(opts.placement === false ? {} : { placement: { cluster: region, tags: [] } }),
    });
  } catch (err) {
    // Another node created it first.
    if (/already in use|exists/i.test((err as Error).message)) return;
    // The single events stream of regent before issue 11 captures every
    // region's subtree: JetStream refuses overlapping subjects. Say what to do.
    if (/overlap/i.test((err as Error).message)) {
      throw new ConfigError("events stream", `cannot create ${name}: its subjects overlap another stream's (${(err as Error).message}); if it is ${eventsStreamName(cluster)} of regent before the per-region streams, delete it once no node of that version runs (operator: nats stream rm ${eventsStreamName(cluster)})`);
    }
    throw err;
  }
}

type Event = LeaderEvent | ScopeEvent;

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
  /** Settles when the current drain has emptied the queue (or given up). */
  private drained: Promise<void> = Promise.resolve();
  /** Events given up on after `maxAgeMs`. */
  dropped = 0;
  published = 0;
  /** Append attempts, retries included. */
  attempts = 0;

  /** `region`: the publishing node's region; events go to its own region's stream only. */
  constructor(
    private readonly nc: NatsConnection,
    private readonly cluster: string,
    private readonly region: string,
    private readonly log?: Logger,
    private readonly maxAgeMs = 60_000,
  ) {
    this.js = jetstream(nc, { timeout: 2_000 });
  }

  /** Queues an event; never throws. */
  publish(e: Event): void {
    if (this.closed) return;
    this.queue.push({ e, since: Date.now() });
    if (!this.running) this.drained = this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    let delay = 100;
    while (this.queue.length && !this.closed) {
      const head = this.queue[0]!;
      try {
        this.attempts++;
        const s = subjects(this.cluster);
        await this.js.publish(s.capture.inRegion(this.region, s.event(head.e)), encodeEvent(head.e), { msgID: eventMsgId(head.e), timeout: 2_000 });
        this.queue.shift();
        this.published++;
        delay = 100;
      } catch (err) {
        if (Date.now() - head.since > this.maxAgeMs) {
          this.queue.shift();
          this.dropped++;
          this.log?.warn({ err: (err as Error).message, event: eventMsgId(head.e) }, "event dropped after retries");
          continue;
        }
        this.log?.debug({ err: (err as Error).message }, "event publish failed; retrying");
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(2_000, delay * 2);
      }
    }
    this.running = false;
  }

  /** Waits (up to `timeoutMs`, or until the connection closes) for queued events to be acked, then stops. */
  async close(timeoutMs = 3_000): Promise<void> {
    if (!this.nc.isClosed()) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
      await Promise.race([this.drained, this.nc.closed(), deadline]);
      clearTimeout(timer);
    }
    this.closed = true;
  }
}

/** One event read back from a region's events stream. */
export interface StoredEvent {
  /** The region whose stream stored it. */
  region: string;
  /** Sequence in that region's stream. */
  seq: number;
  /** The live subject it was republished on. */
  subject: string;
  event: LeaderEvent | ScopeEvent;
}

/** Options of {@link readEventsStreams}. */
export interface ReadEventsOptions {
  /** Regions whose streams to read; default: every `regent-log-<cluster>-<region>` stream the server lists. */
  regions?: readonly string[];
  /** First sequence to read, per region (default 1). */
  fromSeq?: Record<string, number>;
  /** Read only the last `tail` events of each region's stream (a start for a display). */
  tail?: number;
  /** Deadline of each region's read, and of the listing (ms, default 5000). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Reads every region's events stream that answers, each from its
 * `fromSeq[region]` until it has caught up with that stream's last sequence
 * at call time, merged in the order of the events' `at` (wall time of the
 * publishing node: display order, not causality), then region, then stream
 * sequence. A region whose stream does not answer within `timeoutMs` is left
 * out (listed in `unreachable`): a dead region must not block or fail the
 * read. For audits, tests, the dashboard and `regent watch --replay`.
 */
export async function readEventsStreams(nc: NatsConnection, cluster: string, opts: ReadEventsOptions = {}): Promise<{ events: StoredEvent[]; lastSeq: Record<string, number>; unreachable: string[] }> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const regions = opts.regions ?? (await listRegionStreams(nc, cluster, timeoutMs, opts.signal));
  const unreachable: string[] = [];
  const lastSeq: Record<string, number> = {};
  const perRegion = await Promise.all(
    regions.map(async (region) => {
      try {
        const r = await readRegion(nc, cluster, region, opts.fromSeq?.[region] ?? 1, opts.tail, timeoutMs, opts.signal);
        lastSeq[region] = r.last;
        return r.events;
      } catch {
        unreachable.push(region);
        return [];
      }
    }),
  );
  const events = perRegion.flat().sort((a, b) => a.event.at - b.event.at || (a.region < b.region ? -1 : a.region > b.region ? 1 : a.seq - b.seq));
  return { events, lastSeq, unreachable: unreachable.sort() };
}

/** Regions with an events stream, from the server's stream list (streams capturing the cluster's capture subtree). */
async function listRegionStreams(nc: NatsConnection, cluster: string, timeoutMs: number, signal?: AbortSignal): Promise<string[]> {
  const deadline = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(signal ? [signal] : [])]);
  const jsm = await untilAborted(jetstreamManager(nc, { timeout: timeoutMs }), deadline);
  const names = await untilAborted(
    (async () => {
      const out: string[] = [];
      for await (const n of jsm.streams.names(subjects(cluster).capture.all)) out.push(n);
      return out;
    })(),
    deadline,
  );
  return names.map((n) => regionOfEventsStream(cluster, n)).filter((r): r is string => r !== null).sort();
}

/** One region's stream, from `fromSeq` (or its last `tail`) to its last sequence at call time, all within `timeoutMs`. */
async function readRegion(nc: NatsConnection, cluster: string, region: string, fromSeq: number, tail: number | undefined, timeoutMs: number, signal?: AbortSignal): Promise<{ last: number; events: StoredEvent[] }> {
  const deadline = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(signal ? [signal] : [])]);
  const name = regionEventsStreamName(cluster, region);
  const within = <T>(p: Promise<T>): Promise<T> => untilAborted(p, deadline);
  const jsm = await within(jetstreamManager(nc, { timeout: timeoutMs }));
  const last = (await within(jsm.streams.info(name))).state.last_seq;
  if (tail !== undefined) fromSeq = Math.max(fromSeq, last - tail + 1, 1);
  const out: StoredEvent[] = [];
  if (last < fromSeq) return { last, events: out };
  const js = jetstream(nc, { timeout: timeoutMs });
  const consumer = await within(js.consumers.get(name, { opt_start_seq: fromSeq }));
  const msgs = await within(consumer.consume());
  const stop = () => void msgs.close();
  deadline.addEventListener("abort", stop, { once: true });
  try {
    for await (const m of msgs) {
      try {
        out.push({ region, seq: m.seq, subject: subjects(cluster).capture.liveOfRegion(region, m.subject), event: decodeEvent(m.data) as LeaderEvent | ScopeEvent });
      } catch {
        /* not ours: skip */
      }
      if (m.seq >= last) break;
    }
  } finally {
    deadline.removeEventListener("abort", stop);
    await msgs.close();
  }
  if (deadline.aborted) throw new StoreUnavailableError(`events stream ${name} did not answer within ${timeoutMs} ms`);
  return { last, events: out };
}

/** Every answering region's events, merged: {@link readEventsStreams} without the bookkeeping. */
export async function readEventsStream(nc: NatsConnection, cluster: string, opts: ReadEventsOptions = {}): Promise<StoredEvent[]> {
  return (await readEventsStreams(nc, cluster, opts)).events;
}
