/**
 * A lost and recreated bucket (the "epoch" of a bucket), for
 * {@link NatsLeaseStore}. See docs/safety.md, "A lost bucket".
 *
 * Revisions are stream sequences, and the fencing token is the revision of
 * the acquiring write. A deleted and recreated stream starts again at 1, so
 * without care tokens would go backwards, an old in-flight CAS could match a
 * new revision, and a vacant key in the new bucket would be taken at once
 * while the holder of the old one may still be inside its validity.
 *
 * So a store that finds its bucket gone (or, at open, below its `tokenFloor`):
 * 1. recreates the stream (when allowed);
 * 2. checks the stream's config (whoever recreated it chose it);
 * 3. raises its sequence above the highest revision the store has seen (its
 *    floor), by a purge with `seq` — only on a stream that is empty or holds
 *    nothing but a genesis record written after the store saw the stream
 *    gone or empty, and only when sent within {@link BUMP_WINDOW_MS} of that:
 *    then the purge can remove nothing anyone relies on (see
 *    `recoverBucket`); a purge that removes more than was seen is reported;
 * 4. writes a genesis record at `GENESIS_KEY` (wire/names.ts). In a bucket with a
 *    genesis record, a key that was never written reads as held by an
 *    unknown holder at the genesis revision, so every candidate waits a full
 *    lease of its own before taking it (rule R3), exactly as for any record
 *    it cannot vouch for.
 * A stream below the floor that already holds lease records (recreated by
 * someone who knew less, and written to) cannot be raised safely: that is a
 * {@link TokenFloorError}.
 *
 * Measured on nats-server 2.9.10: on an empty stream, a purge with `{ seq: N }`
 * makes the next message get sequence N, on R1 and R3, and it survives a
 * restart; but the stream-wide check (Nats-Expected-Last-Sequence) keeps
 * counting from the old last sequence — on R1 until a restart, on R3 until
 * the first write without that header fails with "expected sequence does not
 * match store", after which it is right again. The genesis write carries only
 * the per-key check, so on R3 it is that resynchronising write (retried once).
 * nats-server 2.10+ has a `first_seq` stream setting; it is not used, so the
 * same path works on 2.9 and later.
 */
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { BucketMissingError, StoreUnavailableError, TokenFloorError, type RegentError } from "../errors.js";
import { encodeGenesis } from "../wire/genesis-record.js";
import { GENESIS_KEY, kvSubject } from "../wire/names.js";
import type { AckPublisher } from "./ack-publisher.js";
import { apiCode, isWrongSequence, message, STREAM_NOT_FOUND } from "./nats-call.js";

import { unsafeBucketConfig } from "./stream-config.js";

/**
 * Longest time from seeing the stream gone or empty to sending the purge
 * that raises its sequence. A takeover in the new bucket needs a full lease
 * of waiting after a genesis record appears, so every lease on a NATS store
 * must be longer than this. A topology is checked for it (`topology/load.ts`);
 * `resolveTiming` still accepts leases down to 10 ms (memory stores, tests),
 * so a library user pairing a NatsLeaseStore with a lease ≤ 200 ms is not stopped.
 */
export const BUMP_WINDOW_MS = 200;

/** What recovery needs from the store. */
export interface EpochDeps {
  bucket: string;
  stream: string;
  jsm: JetStreamManager;
  kv: KV;
  publisher: AckPublisher;
  /** Creates the stream with the store's settings; `null` when the store may not create buckets. */
  createStream: (() => Promise<unknown>) | null;
  /** Throws once the caller has given up (deadline, abort): nothing more is sent. */
  live: () => void;
  /** Monotonic ms. */
  now: () => number;
  /** Told of an error every later call must refuse with (a record was erased). */
  refuse?: (err: RegentError) => void;
}

/** What recovery found: the genesis revision, and the stream config it checked. */
export interface Recovered {
  genesis: number;
  config: StreamConfig;
  /** The stream's creation time and state when last looked at. */
  stream: { created: string; state: { last_seq: number } };
}

/**
 * Makes the bucket safe to use again after a loss: present, with a config
 * fit for leases (`stream-config.ts`; whoever recreated it), its sequence
 * above `floor`, and a genesis record above `floor`. Returns the genesis
 * revision and the config. Idempotent; several processes may run it at once
 * (see the module comment for why their purges cannot remove a record
 * anyone relies on).
 *
 * `clearSince`: monotonic time at or before a request that showed the
 * bucket gone (or null): a genesis found afterwards was written after it.
 */
export async function recoverBucket(d: EpochDeps, floor: number, clearSince: number | null = null): Promise<Recovered> {
  const genesisSubject = kvSubject(d.bucket, GENESIS_KEY);
  for (let round = 0; round < 8; round++) {
    d.live();
    const seenAt = d.now();
    const info = await d.jsm.streams.info(d.stream).catch((err: unknown) => {
      if (apiCode(err) === STREAM_NOT_FOUND) return null;
      throw err;
    });
    if (!info) {
      clearSince = seenAt;
      if (!d.createStream) throw new BucketMissingError(d.bucket);
      d.live();
      await d.createStream();
      continue;
    }
    // Whoever recreated it chose the config: check it before trusting anything in it.
    const unsafe = unsafeBucketConfig(d.bucket, info.config);
    if (unsafe) throw unsafe;
    const { last_seq: last, messages } = info.state;
    // Empty when we looked: anything in it now was written after `seenAt`.
    if (messages === 0) clearSince = seenAt;
    d.live();
    const g = await d.kv.get(GENESIS_KEY);
    const genesis = g && g.operation === "PUT" ? g.revision : 0;
    if (genesis > floor) return { genesis, config: info.config, stream: info };
    let genesisSubjectSeq = g ? g.revision : 0;
    if (last < floor) {
      // Raise the sequence only on a stream that holds nothing, or nothing
      // but a genesis record (written by a recoverer that knew less), and
      // only while everything in it is provably younger than the window: a
      // purge removes every message, also one written since we looked.
      // Nobody that knows the bucket was lost writes a lease before a
      // genesis exists, and taking a never-written key costs a full lease of
      // waiting after the genesis appears; so a genesis seen to be written
      // less than BUMP_WINDOW_MS ago (after `clearSince`) has nothing under
      // it, and removing it only restarts those waits (and fails the CAS
      // that ends them). A genesis of unknown age may have a takeover
      // landing under it right now (review finding 5): refuse it.
      if (messages > 1 || (messages === 1 && genesis !== last)) throw new TokenFloorError(d.bucket, floor, last);
      if (clearSince === null || d.now() - clearSince > BUMP_WINDOW_MS) {
        if (messages === 1) throw new TokenFloorError(d.bucket, floor, last, "it holds a genesis record written by a recoverer that knew less, of unknown age (a takeover may be landing under it)");
        continue; // empty, but we took too long: look again
      }
      d.live();
      const { purged } = await d.jsm.streams.purge(d.stream, { seq: floor + 1 });
      // More than we saw: a write landed between the look and the purge,
      // and is gone. Only a process that does not know the bucket was lost
      // writes so early; its record is lost, so say so rather than go on.
      if (purged > messages) {
        const err = new TokenFloorError(d.bucket, floor, last, `the purge that raised it removed ${purged} messages where ${messages} were seen (a record written meanwhile was erased)`);
        d.refuse?.(err);
        throw err;
      }
      genesisSubjectSeq = 0;
    }
    const h = natsHeaders();
    h.set("Nats-Expected-Last-Subject-Sequence", `${genesisSubjectSeq}`);
    try {
      d.live();
      const rev = await d.publisher.publish(genesisSubject, encodeGenesis(floor, Date.now()), h);
      if (rev > floor) return { genesis: rev, config: info.config, stream: { created: info.created, state: { last_seq: rev } } };
    } catch (err) {
      // Another recoverer wrote first (look again), or the R3 resync after a purge (retry).
      if (!isWrongSequence(err) && !/does not match store/i.test(message(err))) throw err;
    }
  }
  throw new StoreUnavailableError(`recovering bucket ${d.bucket}: it kept changing under us`);
}
