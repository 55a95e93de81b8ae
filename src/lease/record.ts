/**
 * What a lease record means to the election: the state of a lease key
 * (vacant, held, released or unknown) and how long a successor waits it out.
 * The record's bytes, its fields and its codec are in wire/lease-record.ts
 * (docs/wire.md).
 */
import { readEntry } from "../wire/entry.js";
import { decodeRecord, type LeaseRecord } from "../wire/lease-record.js";
import type { StoreEntry } from "./store.js";

/** The decoded state of a lease key, as the election sees it. */
export type LeaseView =
  /** Absent, deleted or purged: acquire with `create`. */
  | { state: "vacant"; revision: number }
  /** Released by `holder`: may be taken over at once by CAS on `revision`. */
  | { state: "released"; revision: number; holder: string; token: number; record: LeaseRecord }
  /** Held by `holder` as of `revision`. */
  | { state: "held"; revision: number; holder: string; token: number; record: LeaseRecord }
  /**
   * Undecodable or foreign bytes: treated as held by an unknown holder, never
   * taken over silently. `leaseMs` is the record's `leaseMs` field when the
   * bytes are a map carrying a plausible one (e.g. a newer schema version).
   */
  | { state: "unknown"; revision: number; reason: string; leaseMs?: number };

/** Interprets a store entry (or its absence) as a {@link LeaseView}. */
export function viewOf(entry: StoreEntry | null): LeaseView {
  const e = readEntry(entry, decodeRecord);
  if (e.state !== "record") return e;
  const rec = e.record;
  // Token 0 marks the acquiring write: its token is its own revision.
  const token = rec.token === 0 ? e.revision : rec.token;
  return {
    state: rec.released ? "released" : "held",
    revision: e.revision,
    holder: rec.holder,
    token,
    record: rec,
  };
}

/**
 * How long a successor with lease `ownLeaseMs` must watch this revision
 * unchanged before taking it over: the longer of its own lease and the
 * holder's (from the record), so neither side's validity is cut short when
 * configs differ. An unknown record is waited out for the longer of the own
 * lease and the `leaseMs` field it carries, if any (bounded like a valid one).
 */
export function leaseToWait(v: LeaseView, ownLeaseMs: number, unnamedLeaseMs = ownLeaseMs): number {
  if (v.state === "held" || v.state === "released") return Math.max(ownLeaseMs, v.record.leaseMs);
  // A state that names no lease may follow any holder: the longest lease in use (TimingOptions.maxLeaseMs).
  if (v.state === "unknown") return Math.max(ownLeaseMs, v.leaseMs ?? unnamedLeaseMs);
  return Math.max(ownLeaseMs, unnamedLeaseMs);
}
