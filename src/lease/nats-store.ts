/**
 * {@link LeaseStore} on a NATS JetStream KV bucket (client v3, server 2.9+).
 *
 * The bucket is FILE storage, history 1, and never has a TTL: safety must not
 * depend on server-side expiry (watchers get no event on expiry, and
 * nats-server#3653 dropped fresh keys in a TTL bucket). Revisions are stream
 * sequences, so they are store-wide, strictly increasing and survive restarts.
 *
 * Reads go through the stream leader (`allow_direct: false`): with direct get
 * any replica may answer, and a lagging follower would return stale leases.
 *
 * Conditional writes on replicated buckets do not use the per-key check,
 * which is not linearizable on replicated streams in nats-server 2.9 (see
 * `casWrite`); single-replica buckets use it (it is exact there).
 *
 * Made to scale to thousands of elections per process: all watches of a
 * store share one bucket-wide watch (`watch-hub.ts`), and the calls in flight
 * on one connection are bounded (`limiter.ts`).
 *
 * Error mapping: see `nats-call.ts`; in addition, "no responders" on a write
 * is a BucketMissingError when a follow-up stream lookup says the stream is
 * gone.
 *
 * A lost bucket: the store remembers the highest revision it has seen (and
 * `tokenFloor`); after a BucketMissingError its next call first recovers the
 * bucket (`bucket-epoch.ts`): recreated, its sequence raised above that
 * floor, and a genesis record written, under which never-written keys read as
 * held by an unknown holder (a full lease of waiting before a takeover).
 *
 * A single-replica bucket that may have lost acknowledged writes (a lossy
 * restart, a recreation by someone else) fails the calls in flight and the
 * first call on each key after it (`restart-guard.ts`; docs/quorum.md, Q3).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { JetStreamManager, StreamInfo } from "@nats-io/jetstream";
import type { KV, KvEntry } from "@nats-io/kv";
import { AbortedError, BucketMissingError, ConfigError, RegentError, StoreUnavailableError } from "../errors.js";
import { AckPublisher } from "./ack-publisher.js";
import { Limiter } from "./limiter.js";
import { apiCode, guard, isNoResponders, isStreamNotFound, message, STREAM_NOT_FOUND, type ErrContext } from "./nats-call.js";
import { recoverBucket } from "./bucket-epoch.js";
import { casWrite, type CasOp } from "./nats-cas.js";
import { RestartGuard } from "./restart-guard.js";
import { StreamConfigCheck } from "./stream-config.js";
import { openBucket, retryUnavailable, type NatsLeaseStoreOptions } from "./nats-bucket.js";
import { FreshFlight } from "../util/fresh-flight.js";
import { monotonicNowMs } from "../util/clock.js";
import { WatchHub, type WatchSink } from "./watch-hub.js";
import { kvWatch, toEntry } from "./nats-watch.js";
import { assertLeaseKey, assertValidFilter, assertValidRevision } from "./keys.js";
import { GENESIS_KEY, kvStreamName } from "../wire/names.js";
import { isReservedKey, type CallOptions, type LeaseStore, type StoreEntry, type WatchOptions } from "./store.js";

export type { NatsLeaseStoreOptions } from "./nats-bucket.js";

const limiters = new WeakMap<NatsConnection, Limiter>();

/** Set once the caller of a store call has its answer; see `call`. */
interface GaveUp {
  cancelled: boolean;
  /** Monotonic ms before the call's first request: what it saw, it saw after this. */
  startedAt: number;
}

/** Lease store on a NATS JetStream KV bucket. Construct with {@link NatsLeaseStore.open}. */
export class NatsLeaseStore implements LeaseStore {
  readonly name: string;
  private readonly stream: string;
  private readonly limiter: Limiter;
  private readonly publisher: AckPublisher;
  private readonly hub = new WatchHub((signal) =>
    kvWatch(
      {
        name: this.name,
        nc: this.nc,
        open: () => this.call({ op: "watch" }, { signal }, () => this.kv.watch({ key: ">" }), (late) => late.stop()),
        note: (rev) => this.note(rev),
        lost: this.watchesToEnd,
      },
      signal,
    ),
  );
  /** Highest revision seen through this store, or the token floor: a recreated bucket starts above it. */
  private seen: number;
  /** The bucket was found missing: the next call recovers it first (single flight). */
  private lost = false;
  /** Monotonic ms before the latest request that showed the bucket gone (a genesis found later is younger). */
  private lostSince: number | null = null;
  private recovery: Promise<number> | null = null;
  /** Set when a recovery erased a record written meanwhile: every call refuses (TOKEN_FLOOR). */
  private refused: RegentError | null = null;
  /** Replicas and safety of the stream, re-read (review finding 3; `stream-config.ts`). */
  private readonly config: StreamConfigCheck;
  /** Open bucket-wide watches: a lost bucket's watch just goes quiet (measured), so end them. */
  private readonly watchesToEnd = new Set<(err: RegentError) => void>();
  /** Latest genesis revision this store has handed out: only a CAS on it can take a never-written key. */
  private knownGenesis = 0;
  /**
   * Reads a never-written key's `get` needs (the genesis record, the stream's
   * last sequence), shared by concurrent callers: thousands of elections
   * starting on fresh keys would otherwise send thousands of each.
   */
  private readonly genesisReads = new FreshFlight<KvEntry | null>();
  private readonly lastSeqReads = new FreshFlight<number>();
  /** Q3 on single-replica buckets (`restart-guard.ts`). */
  private readonly restarts: RestartGuard;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
    bucket: string,
    private readonly timeoutMs: number,
    /** The bucket's stream config as `open` found it: replicated streams need the stream-wide check. */
    info: StreamInfo,
    maxInFlight: number,
    /** Creates the stream with the store's settings; `null` with `create: false`. */
    private readonly createStream: (() => Promise<unknown>) | null,
    tokenFloor: number,
  ) {
    this.seen = tokenFloor;
    this.name = bucket;
    let limiter = limiters.get(nc);
    if (!limiter) limiters.set(nc, (limiter = new Limiter(maxInFlight)));
    this.limiter = limiter;
    this.publisher = AckPublisher.for(nc, 2 * timeoutMs);
    this.stream = kvStreamName(bucket);
    this.restarts = new RestartGuard(bucket, () => nc.info?.server_id, info, (err) => {
      for (const end of this.watchesToEnd) end(err);
    });
    // The config re-read before R1 writes doubles as the Q3 check: no extra request.
    this.config = new StreamConfigCheck(
      bucket,
      async () => {
        const highAtSend = this.restarts.mark();
        const fresh = await this.jsm.streams.info(this.stream);
        this.restarts.observe(fresh, highAtSend);
        return fresh.config;
      },
      info.config,
    );
  }

  /** Creates (or binds to) the bucket and checks it is safe to use: FILE storage, no TTL (`nats-bucket.ts`). */
  static async open(nc: NatsConnection, opts: NatsLeaseStoreOptions): Promise<NatsLeaseStore> {
    const b = await openBucket(nc, opts);
    const store = new NatsLeaseStore(nc, b.kv, b.jsm, opts.bucket, b.timeoutMs, b.info, b.maxInFlight, b.createStream, b.tokenFloor);
    if (b.info.state.last_seq < b.tokenFloor) {
      // Below the tokens already issued: this bucket was lost and recreated. Recover it now.
      store.lost = true;
      await guard({ op: "open" }, opts.bucket, b.timeoutMs, opts.signal, () => store.recover());
    }
    return store;
  }

  /**
   * Highest revision this store has seen (or its `tokenFloor`). Every token
   * issued in this bucket after a loss is above it.
   */
  get tokenHighWater(): number {
    return this.seen;
  }

  private note(revision: number): number {
    if (revision > this.seen) this.seen = revision;
    this.restarts.note(revision);
    return revision;
  }

  /** `since`: monotonic ms before the request that showed the bucket gone. */
  private markLost(since: number): void {
    this.lost = true;
    this.lostSince = Math.max(this.lostSince ?? since, since);
    for (const end of this.watchesToEnd) end(new BucketMissingError(this.name));
  }

  /** Recovers a lost bucket, once for all concurrent callers (see `bucket-epoch.ts`). */
  private recover(): Promise<number> {
    this.recovery ??= recoverBucket(
      {
        bucket: this.name,
        stream: this.stream,
        jsm: this.jsm,
        kv: this.kv,
        publisher: this.publisher,
        createStream: this.createStream,
        // Shared by every waiting caller, so no single caller's deadline ends it;
        // each of its requests has the client's timeout.
        live: () => {},
        now: monotonicNowMs,
        refuse: (err) => (this.refused = err),
      },
      this.seen,
      this.lostSince,
    )
      .then(({ genesis, config, stream }) => {
        this.restarts.adopt(stream); // recreated by us (or found so): not a loss to report again
        this.config.accept(config); // checked by the recovery already: sets the replica count
        this.lost = false;
        this.lostSince = null;
        this.knownGenesis = Math.max(this.knownGenesis, genesis);
        return this.note(genesis);
      })
      .finally(() => (this.recovery = null));
    return this.recovery;
  }

  /**
   * {@link NatsLeaseStore.open}, retried while the server is unreachable or
   * busy ({@link StoreUnavailableError}, e.g. a JetStream cluster still
   * electing its meta leader, or an R3 stream creation that outlasts the
   * timeout), with backoff up to 2 s, until `opts.signal` fires. Other errors
   * (a TTL bucket, a missing bucket with `create: false`) are final.
   */
  static openRetrying(
    nc: NatsConnection,
    opts: NatsLeaseStoreOptions,
    onRetry: (err: StoreUnavailableError, attempt: number) => void = () => {},
  ): Promise<NatsLeaseStore> {
    return retryUnavailable(() => NatsLeaseStore.open(nc, opts), opts.signal, onRetry);
  }

  /** Runs one client call under the store's deadline and the caller's signal, with errors mapped. */
  private call<T>(ctx: ErrContext, opts: CallOptions | undefined, fn: (gaveUp: GaveUp, q3: () => void) => Promise<T>, onLate?: (v: T) => void): Promise<T> {
    // Set when the caller has its answer (result, deadline or abort): a call
    // still queued for a slot then never starts, and a multi-step call (the
    // conditional write's slow path) stops before its next request, so no
    // write is sent after the caller gave up. A flag, not an AbortController:
    // aborting one builds a DOMException per call.
    const gaveUp: GaveUp = { cancelled: false, startedAt: 0 };
    const refined = async () => {
      if (!(await this.limiter.acquire(gaveUp))) throw new AbortedError(`${ctx.op} on ${this.name}: gave up waiting for a slot`);
      gaveUp.startedAt = monotonicNowMs();
      try {
        if (this.refused) throw this.refused;
        if (this.lost) {
          await this.recover();
          if (gaveUp.cancelled) throw new AbortedError(`${ctx.op} on ${this.name}: caller gave up`);
        }
        // Q3 (R1 only: a replicated stream keeps acknowledged writes across a server's restart).
        const key = ctx.key ?? `(${ctx.op})`;
        const guarded = this.config.replicas <= 1;
        const epoch = guarded ? this.restarts.enter(ctx.op, key) : 0;
        const q3 = () => {
          if (guarded) this.restarts.check(ctx.op, key, epoch);
        };
        let result: T;
        try {
          result = await fn(gaveUp, q3);
        } catch (err) {
          // An answer from across a detection (a conflict against a reused revision, say) is no answer.
          if (!(err instanceof AbortedError)) q3();
          throw err;
        }
        q3();
        return result;
      } catch (err) {
        const mapped = isNoResponders(err) ? await this.refineNoResponders(ctx, err) : err;
        if (isStreamNotFound(mapped)) this.markLost(gaveUp.startedAt);
        throw mapped;
      } finally {
        this.limiter.release();
      }
    };
    // The probe runs inside the guard, so the deadline bounds the whole call.
    return guard(ctx, this.name, this.timeoutMs, opts?.signal, refined, onLate).finally(() => (gaveUp.cancelled = true));
  }

  /**
   * A publish to a deleted bucket's subject has no responders, exactly like a
   * server without JetStream or a stream in leader election. Ask for the
   * stream to tell "gone" from "down".
   */
  private async refineNoResponders(ctx: ErrContext, err: unknown): Promise<RegentError> {
    try {
      await this.jsm.streams.info(this.stream);
    } catch (probeErr) {
      if (apiCode(probeErr) === STREAM_NOT_FOUND) return new BucketMissingError(this.name, { cause: err });
    }
    return new StoreUnavailableError(`${ctx.op} on ${this.name}: ${message(err)}`, { cause: err });
  }

  async get(key: string, opts?: CallOptions): Promise<StoreEntry | null> {
    assertLeaseKey(key);
    return this.call({ op: "get", key }, opts, async (gaveUp) => {
      const live = () => {
        if (gaveUp.cancelled) throw new AbortedError(`get on ${this.name}: caller gave up`);
      };
      for (let attempt = 0; ; attempt++) {
        const mark = this.genesisReads.mark();
        const lastSeqMark = this.lastSeqReads.mark(); // each single flight counts its own epochs
        const seenBefore = this.seen; // not this.seen at the reply: writes acked after the info read would fake a loss
        const e = await this.kv.get(key);
        if (e) {
          this.note(e.revision);
          // DEL and PURGE markers too: a deleted key is not a never-written one.
          return toEntry(e);
        }
        // Never written. In a recreated bucket a holder of the lost bucket may
        // still be valid: the key reads as held by an unknown holder at the
        // genesis revision, so a successor waits a full lease before taking it.
        live();
        const g = await this.genesisReads.run(mark, () => this.kv.get(GENESIS_KEY));
        if (g && g.operation === "PUT") {
          this.knownGenesis = Math.max(this.knownGenesis, this.note(g.revision));
          return { key, revision: g.revision, operation: "put", value: g.value };
        }
        // No genesis record. A bucket recreated by someone who never knew the
        // old one has a sequence below what we saw: recover it, then read again.
        if (attempt > 0 || seenBefore === 0) return null;
        live();
        const last = await this.lastSeqReads.run(lastSeqMark, async () => (await this.jsm.streams.info(this.stream)).state.last_seq);
        if (last >= seenBefore) return null;
        this.markLost(gaveUp.startedAt);
        live();
        await this.recover();
      }
    });
  }

  /** A conditional write (see `nats-cas.ts`), under the call's deadline and signal. */
  private casWrite(op: CasOp, key: string, value: Uint8Array, expected: number, opts?: CallOptions): Promise<number> {
    return this.call({ op, key, expected }, opts, async (gaveUp, q3) => {
      const live = () => {
        if (gaveUp.cancelled || opts?.signal?.aborted) throw new AbortedError(`${op} on ${this.name}: caller gave up`);
      };
      // The replica count decides which check is exact, and it may change
      // under a running store (an edit, a recreation): see `stream-config.ts`.
      // On R1 the same read shows a lost write or a new server (Q3): then the
      // write is never sent.
      if (this.config.stale) await this.config.check();
      live();
      q3();
      try {
        return await casWrite(
          { bucket: this.name, stream: this.stream, kv: this.kv, jsm: this.jsm, publisher: this.publisher, replicas: this.config.replicas, knownGenesis: this.knownGenesis },
          { op, key, value, expected },
          live,
        );
      } catch (err) {
        if (!(err instanceof AbortedError)) {
          await this.config.check().catch((checkErr: unknown) => {
            if (checkErr instanceof ConfigError) throw checkErr;
          });
        }
        throw err;
      }
    });
  }

  async create(key: string, value: Uint8Array, opts?: CallOptions): Promise<number> {
    assertLeaseKey(key);
    return this.note(await this.casWrite("create", key, value, 0, opts));
  }

  async update(key: string, value: Uint8Array, expectedRevision: number, opts?: CallOptions): Promise<number> {
    assertLeaseKey(key);
    assertValidRevision(expectedRevision);
    return this.note(await this.casWrite("update", key, value, expectedRevision, opts));
  }

  async delete(key: string, expectedRevision: number, opts?: CallOptions): Promise<void> {
    assertLeaseKey(key);
    assertValidRevision(expectedRevision);
    this.note(await this.casWrite("delete", key, new Uint8Array(), expectedRevision, opts));
  }

  async keys(filter: string, opts?: CallOptions): Promise<string[]> {
    assertValidFilter(filter);
    // On timeout or abort, stop the consumer instead of leaving it running,
    // including one whose creation only completes after we gave up.
    let iter: { stop(): void } | undefined;
    let gaveUp = false;
    const collect = async () => {
      const it = await this.kv.keys(filter);
      iter = it;
      if (gaveUp) it.stop();
      const out: string[] = [];
      for await (const k of it) if (!isReservedKey(k)) out.push(k);
      return out;
    };
    try {
      return await this.call({ op: "keys" }, opts, collect);
    } finally {
      gaveUp = true;
      iter?.stop();
    }
  }

  /** Served from the store's shared bucket-wide watch (see `watch-hub.ts`). */
  watch(filter: string, opts: WatchOptions): AsyncIterable<StoreEntry> {
    assertValidFilter(filter);
    return this.hub.watch(filter, opts.signal);
  }

  /** {@link watch} by callback (see {@link WatchSubscriber}): no iterator per watcher. */
  subscribe(filter: string, sink: WatchSink): () => void {
    assertValidFilter(filter);
    return this.hub.subscribe(filter, sink);
  }
}
