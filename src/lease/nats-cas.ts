/**
 * Compare-and-set on a NATS KV bucket, made linearizable on replicated
 * buckets (for {@link NatsLeaseStore}).
 *
 * KV `update`/`create` rely on the per-subject check
 * (Nats-Expected-Last-Subject-Sequence). On nats-server 2.9.10 that check
 * is NOT linearizable on a replicated (R3) stream: the leader checks it
 * against applied state only, so two concurrent writes expecting the same
 * revision can both succeed (measured: >1 winner in 135 of 150 rounds). The
 * stream-wide check (Nats-Expected-Last-Sequence) does account for
 * in-flight proposals (0 of 150). So every conditional write on a replicated
 * bucket expects a stream-wide last sequence L at which the key was known to
 * be at the expected revision:
 * - fast path: L = the expected revision itself (true whenever the key's
 *   last write is also the bucket's last write, e.g. a holder renewing in a
 *   bucket of its own);
 * - slow path, after the fast path lost: read L from the stream, read the
 *   key, and write expecting L — if anything at all was written since,
 *   the write fails and the round repeats.
 * Single-replica buckets use the per-key check, which is exact there.
 * See docs/decisions.md and test/lease/nats-store-r3.test.ts.
 *
 * A never-written key in a recreated bucket reads as held at the genesis
 * revision (`bucket-epoch.ts`); an `update` expecting that revision takes it.
 *
 * `live` is called before every request and throws once the caller has given
 * up (deadline or abort): no write is ever sent after that, so none can land
 * unseen by a caller that already reported the outcome unknown and moved on.
 */
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { ConflictError, StoreUnavailableError } from "../errors.js";
import type { AckPublisher } from "./ack-publisher.js";
import { isWrongSequence } from "./nats-call.js";
import { GENESIS_KEY, kvSubject } from "../wire/names.js";

export type CasOp = "create" | "update" | "delete";

/** What a conditional write needs from the store. */
export interface CasDeps {
  bucket: string;
  stream: string;
  kv: KV;
  jsm: JetStreamManager;
  publisher: AckPublisher;
  replicas: number;
  /** Latest genesis revision the store handed out (0: none); only an update expecting it may take a never-written key. */
  knownGenesis: number;
}

const EMPTY = new Uint8Array();

/** Performs one conditional write; returns the new revision. Throws ConflictError when it lost. */
export async function casWrite(
  d: CasDeps,
  w: { op: CasOp; key: string; value: Uint8Array; expected: number },
  live: () => void,
): Promise<number> {
  const { op, key, expected } = w;
  const subject = kvSubject(d.bucket, key);
  const data = op === "delete" ? EMPTY : w.value;
  // `lastSequence` null: the per-key check only.
  const publish = (lastSequence: number | null, subjectSequence = expected) => {
    live();
    const h = natsHeaders();
    if (lastSequence !== null) h.set("Nats-Expected-Last-Sequence", `${lastSequence}`);
    h.set("Nats-Expected-Last-Subject-Sequence", `${subjectSequence}`);
    if (op === "delete") h.set("KV-Operation", "DEL");
    return d.publisher.publish(subject, data, h);
  };
  const read = <T>(f: () => Promise<T>) => {
    live();
    return f();
  };
  const genesisIs = async (revision: number) => {
    const g = await read(() => d.kv.get(GENESIS_KEY));
    return g !== null && g.operation === "PUT" && g.revision === revision;
  };

  if (d.replicas <= 1) {
    // One server: the per-key check is exact (measured), and keys do not
    // contend with each other as they do on the stream-wide sequence.
    if (op === "update") {
      try {
        return await publish(null);
      } catch (err) {
        if (!isWrongSequence(err) || expected !== d.knownGenesis) throw err;
        // A never-written key, taken after a full lease of watching the genesis revision.
        if ((await read(() => d.kv.get(key))) === null && (await genesisIs(expected))) return publish(null, 0);
        throw err;
      }
    }
    if (op !== "create") return publish(null);
    try {
      return await publish(null);
    } catch (err) {
      if (!isWrongSequence(err)) throw err;
      // Absent may mean a delete marker: expect the marker's revision instead.
      const e = await read(() => d.kv.get(key));
      if (!e || e.operation === "PUT") throw err;
      return publish(null, e.revision);
    }
  }
  if (expected > 0) {
    try {
      return await publish(expected);
    } catch (err) {
      if (!isWrongSequence(err)) throw err;
    }
  }
  for (let round = 0; round < 30; round++) {
    // Writers of other keys contend for the same stream sequence: back off a little, randomly.
    if (round > 0) await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** round)));
    const last = (await read(() => d.jsm.streams.info(d.stream))).state.last_seq;
    const e = await read(() => d.kv.get(key));
    let current = e ? e.revision : 0;
    const present = e !== null && e.operation === "PUT";
    // For create, the marker's revision (or 0) is the subject sequence to expect.
    let subjectSequence = op === "create" ? current : expected;
    // A never-written key read as held at the genesis revision: taken with the
    // stream-wide check on `last`, which also fails if the genesis changed since.
    if (op === "update" && e === null && expected === d.knownGenesis && (await genesisIs(expected))) [current, subjectSequence] = [expected, 0];
    // create: the key must be absent (never written, or a delete/purge marker).
    if (op === "create" ? present : current !== expected) throw new ConflictError(key, expected);
    if (current > last) continue; // stream info lagged the get: read again
    try {
      return await publish(last, subjectSequence);
    } catch (err) {
      if (!isWrongSequence(err)) throw err;
      // Something was written since `last`: maybe another key, maybe ours. Look again.
    }
  }
  throw new StoreUnavailableError(`${op} on ${d.bucket}: bucket too busy for a conditional write (${key})`);
}
