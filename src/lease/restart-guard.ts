/**
 * Assumption Q3 of the quorum lease (docs/quorum.md) for
 * {@link NatsLeaseStore} on single-replica buckets: a store that may have
 * lost acknowledged writes since this client last used it makes the client's
 * next call fail.
 *
 * Why: an R1 stream that restarts without its newest writes (un-fsynced
 * data, a store dir restored from an older copy) or that is recreated hands
 * out the lost revisions again, to other records. A caller that still holds
 * a revision from before (a holder's own last write, a follower's "unchanged
 * since") would then compare-and-set against a different record and win: a
 * stale release erasing a live holder's record, or a follower counting a
 * record as "watched unchanged" since before it existed. A failed call makes
 * the caller re-read and restart its waits (the quorum lease resets
 * `settledSince_k` and `observedSince_k` on a failure).
 *
 * Detected without any request of its own:
 * - the connection's server id changed (nats-server draws a new id at every
 *   start, so a restart of the server the client talks to always shows; a
 *   reconnect to another server of a cluster shows too, a false alarm that
 *   costs one failed call) — checked at the start and at the end of every
 *   call, so a call whose requests may have crossed the reconnect fails;
 * - in the stream info that conditional writes on R1 re-read anyway
 *   (`stream-config.ts`): the stream's `created` time changed (recreated
 *   behind our back), or its last sequence is below the highest revision this
 *   store has seen since the last detection (writes lost).
 * Every call in flight across a detection fails, and after it the first call
 * on each key (`keys` and watch opens count as one more key); open watches
 * end. Per key, not per caller: the store cannot tell its callers apart, so
 * two participants sharing one store object and one key see one failure
 * between them (they still see their watches end). Not detected: a lossy restart of the server
 * hosting the stream while this client stays connected to another server of
 * its cluster and others write past our high-water mark before we look
 * (docs/quorum.md, Q3).
 */
import { StoreUnavailableError } from "../errors.js";

/** What the guard reads from the stream info. */
export interface StreamFacts {
  created: string;
  state: { last_seq: number };
}

export class RestartGuard {
  private server: string | undefined;
  private created: string | undefined;
  /** Highest revision seen since the last detection. */
  private high = 0;
  /** Why calls must fail after the latest detection (null: none yet). */
  private why: string | null = null;
  /** Keys whose caller has seen a failure since the latest detection. */
  private told = new Set<string>();
  /** Bumped by every detection: a call that started in an older epoch fails. */
  private epoch = 0;

  constructor(
    private readonly bucket: string,
    /** The server id of the connection now (`nc.info?.server_id`). */
    private readonly serverId: () => string | undefined,
    stream: StreamFacts,
    /** Told of every detection (the store ends its watches). */
    private readonly onDetect: (err: StoreUnavailableError) => void,
  ) {
    this.server = serverId();
    this.created = stream.created;
    this.high = stream.state.last_seq;
  }

  private detect(why: string, high: number): void {
    this.epoch++;
    this.high = high;
    this.why = why;
    this.told = new Set();
    this.onDetect(new StoreUnavailableError(`${this.bucket}: ${why}`));
  }

  private checkServer(): void {
    const now = this.serverId();
    if (now === undefined || now === this.server) return;
    const was = this.server;
    this.server = now;
    if (was !== undefined) this.detect(`reconnected to a server with a new id (${was} → ${now}): it may have restarted without acknowledged writes (docs/quorum.md, Q3)`, 0);
  }

  /** At a call's start: throws on the first call on `key` after each detection; returns the call's epoch. */
  enter(op: string, key: string): number {
    this.checkServer();
    if (this.why !== null && !this.told.has(key)) {
      this.told.add(key);
      throw new StoreUnavailableError(`${op} on ${this.bucket}: ${this.why}`);
    }
    return this.epoch;
  }

  /** Between a call's requests and at its end: throws when a detection happened since `epoch`. */
  check(op: string, key: string, epoch: number): void {
    this.checkServer();
    if (epoch !== this.epoch) {
      this.told.add(key); // this failure is the one the caller sees
      throw new StoreUnavailableError(`${op} on ${this.bucket}: the store may have lost acknowledged writes during this call (docs/quorum.md, Q3)`);
    }
  }

  /** A revision the store saw. */
  note(revision: number): void {
    if (revision > this.high) this.high = revision;
  }

  /** The high-water mark now: take it when sending a stream-info request, for {@link observe}. */
  mark(): number {
    return this.high;
  }

  /**
   * Stream info read by the store (the config re-read before R1 writes).
   * `highAtSend` is {@link mark} taken when the request was sent: the info
   * covers every write whose reply we had by then, but not the replies of
   * concurrent writes that arrive while it is in flight, so comparing with
   * the mark at reply time took a busy store for one that lost writes (20
   * concurrent updates failed one that way under load in CI).
   */
  observe(info: StreamFacts, highAtSend = this.high): void {
    this.checkServer();
    const last = info.state.last_seq;
    if (info.created !== this.created) {
      const was = this.created;
      this.created = info.created;
      this.detect(`the stream was recreated (created ${was} → ${info.created}) (docs/quorum.md, Q3)`, last);
    } else if (last < highAtSend) {
      this.detect(`the stream's last sequence ${last} is below revision ${highAtSend} seen before: acknowledged writes were lost (docs/quorum.md, Q3)`, last);
    }
  }

  /** The store recreated the stream itself (`bucket-epoch.ts`): adopt it, no alarm. */
  adopt(info: StreamFacts): void {
    this.created = info.created;
    this.high = info.state.last_seq;
  }
}
