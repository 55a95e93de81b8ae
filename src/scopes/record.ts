/**
 * What a scope lease record means to the authority and the lessees: the
 * state of a scope key and how long the authority waits it out before a
 * re-grant. The record's bytes, fields and codec are in
 * wire/scope-record.ts (docs/wire.md); the protocol is in docs/scopes.md.
 */
import { readEntry } from "../wire/entry.js";
import { decodeScope, type ScopeRecord, type ScopeState } from "../wire/scope-record.js";
import type { StoreEntry } from "../lease/store.js";

/** A scope key as the authority and lessees see it. */
export type ScopeView =
  | { state: "vacant"; revision: number }
  /** `leaseMs`: the record's `leaseMs` field when it is a map carrying a plausible one. */
  | { state: "unknown"; revision: number; reason: string; leaseMs?: number }
  | { state: ScopeState; revision: number; token: number; record: ScopeRecord };

/** Interprets a store entry of a scope key. */
export function scopeViewOf(entry: StoreEntry | null): ScopeView {
  const e = readEntry(entry, decodeScope);
  if (e.state !== "record") return e;
  return { state: e.record.state, revision: e.revision, token: e.record.token === 0 ? e.revision : e.record.token, record: e.record };
}

/**
 * How long the authority (scope lease `ownLeaseMs`) must watch this revision
 * unchanged before re-granting: the longer of its own lease and the writer's,
 * so a lessee on a longer lease (a rolling config change) is never cut short.
 */
export function scopeLeaseToWait(v: ScopeView, ownLeaseMs: number): number {
  if (v.state === "vacant") return ownLeaseMs;
  if (v.state === "unknown") return Math.max(ownLeaseMs, v.leaseMs ?? 0);
  return Math.max(ownLeaseMs, v.record.leaseMs);
}
