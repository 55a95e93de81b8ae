/**
 * A KV entry as a record decoder reads it, shared by lease and scope
 * records: an absent key or a delete marker is vacant, bytes the decoder
 * refuses are unknown (held by someone unknown, never free), anything else
 * is the decoded record. What a record then means (held, released,
 * granted, its token) is for the domain: lease/record.ts, scopes/record.ts.
 */
import { leaseMsHint } from "./lease-record.js";

/** The fields of a stored entry a decoder needs (structurally `StoreEntry` of lease/store.ts). */
export interface RecordEntry {
  revision: number;
  /** `put` for a value, `delete` for a delete or purge marker. */
  operation: "put" | "delete";
  value: Uint8Array;
}

/** An entry read with a record decoder. */
export type EntryRead<R> =
  | { state: "vacant"; revision: number }
  /** `leaseMs`: the bytes' `leaseMs` field when they are a map carrying a plausible one (a newer schema, another writer). */
  | { state: "unknown"; revision: number; reason: string; leaseMs?: number }
  | { state: "record"; revision: number; record: R };

/** Reads `entry` (null: the key was never written) with `decode`, which returns the record or why not. */
export function readEntry<R>(entry: RecordEntry | null, decode: (bytes: Uint8Array) => R | string): EntryRead<R> {
  if (entry === null) return { state: "vacant", revision: 0 };
  if (entry.operation === "delete") return { state: "vacant", revision: entry.revision };
  const record = decode(entry.value);
  if (typeof record === "string") {
    const leaseMs = leaseMsHint(entry.value);
    return { state: "unknown", revision: entry.revision, reason: record, ...(leaseMs !== undefined ? { leaseMs } : {}) };
  }
  return { state: "record", revision: entry.revision, record };
}
