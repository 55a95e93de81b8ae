/**
 * The bucket-wide KV watch behind {@link NatsLeaseStore}'s shared watch hub.
 * It ends (so the hub's watchers re-watch and reconcile with `get`) on a
 * disconnect, which the ordered consumer would otherwise hide, and when the
 * store finds its bucket lost: the consumer died with the old stream and
 * simply goes quiet (measured on 2.9.10).
 */
import type { NatsConnection, QueuedIterator, Status } from "@nats-io/transport-node";
import type { KvEntry, KvWatchEntry } from "@nats-io/kv";
import { RegentError, StoreUnavailableError } from "../errors.js";
import { message } from "./nats-call.js";
import { isReservedKey, type StoreEntry } from "./store.js";

/** What the watch needs from the store. */
export interface KvWatchDeps {
  name: string;
  nc: NatsConnection;
  /** Opens the client watch on `>` (under the store's deadline and signal). */
  open: () => Promise<QueuedIterator<KvWatchEntry>>;
  /** Records a revision seen (the store's token floor). */
  note: (revision: number) => void;
  /** The store calls every member with the error when it finds the bucket lost. */
  lost: Set<(err: RegentError) => void>;
}

const EMPTY = new Uint8Array();

/**
 * The client's value is a view into the buffer it read the message from; the
 * watch hub keeps the latest entry of every key, and a view would keep that
 * whole buffer alive (measured: ~1.5 KB per key at 10,000 keys), so the value
 * is copied out.
 */
export function toEntry(e: KvEntry): StoreEntry {
  const put = e.operation === "PUT";
  return { key: e.key, revision: e.revision, operation: put ? "put" : "delete", value: put ? new Uint8Array(e.value) : EMPTY };
}

/** Every entry of the bucket (reserved keys hidden), current state first, until `signal` fires. */
export async function* kvWatch(d: KvWatchDeps, signal: AbortSignal): AsyncGenerator<StoreEntry> {
  if (signal.aborted) return;
  let iter: QueuedIterator<KvWatchEntry>;
  try {
    // Default delivery = last value per key, delete markers included.
    iter = await d.open();
  } catch (err) {
    if (signal.aborted) return;
    throw err;
  }
  // A disconnect may lose updates and the ordered consumer hides it; end the
  // watch so the caller re-watches (and gets the current state again).
  let broken: RegentError | undefined;
  const statuses = d.nc.status() as AsyncIterable<Status> & { stop?: () => void };
  void (async () => {
    for await (const s of statuses) {
      if (s.type === "disconnect" || s.type === "staleConnection" || s.type === "close") {
        broken ??= new StoreUnavailableError(`watch on ${d.name}: connection ${s.type}`);
        iter.stop();
        return;
      }
    }
  })().catch(() => undefined);
  const onAbort = () => iter.stop();
  const onLost = (err: RegentError) => {
    broken ??= err;
    iter.stop();
  };
  d.lost.add(onLost);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const e of iter) {
      if (signal.aborted) return;
      d.note(e.revision);
      if (!isReservedKey(e.key)) yield toEntry(e);
    }
    if (signal.aborted) return;
    // The client ends the iterator quietly when its subscription closes (e.g. the connection closed).
    throw broken ?? new StoreUnavailableError(`watch on ${d.name} ended unexpectedly`);
  } catch (err) {
    if (signal.aborted) return;
    throw err instanceof RegentError ? err : new StoreUnavailableError(`watch on ${d.name}: ${message(err)}`, { cause: err });
  } finally {
    signal.removeEventListener("abort", onAbort);
    d.lost.delete(onLost);
    statuses.stop?.();
    iter.stop();
  }
}
