/**
 * The lease record stored under each lease key (regional and global leases),
 * encoded as plain msgpack maps (no msgpackr extensions) so any msgpack
 * library in any language decodes it. See docs/wire.md for the field table;
 * what a record means to the election (its view, how long to wait it out) is
 * in lease/record.ts.
 */
import { createHash } from "node:crypto";
import { GENESIS_MARK } from "./genesis-record.js";
import { packPlain, unpackPlain } from "./msgpack.js";

/** Current schema version of {@link LeaseRecord}. */
export const LEASE_RECORD_VERSION = 1;

/**
 * Longest lease a record may carry (24 h, the most `resolveTiming` accepts).
 * Successors wait a record's lease, so a larger value can only be forged or
 * corrupt: such a record does not decode (held by unknown, see `leaseToWait` in lease/record.ts).
 */
export const MAX_LEASE_MS = 24 * 3600_000;

/** What a lease key holds. */
export interface LeaseRecord {
  /** Schema version, {@link LEASE_RECORD_VERSION}. */
  v: number;
  /** Holder (candidate) id. */
  holder: string;
  /**
   * Fencing token. `0` on the acquiring write itself, whose token is that
   * write's own revision (a write cannot contain its own revision); renewals
   * and the release carry the token explicitly. Use `viewOf` (lease/record.ts) to read it.
   */
  token: number;
  /**
   * Lease duration the holder uses, ms, at most {@link MAX_LEASE_MS}. A
   * successor waits max(its own lease, this) before taking over: this is what
   * lets lease lengths differ between participants (a rolling config change).
   */
  leaseMs: number;
  /** Renew interval the holder uses, ms. */
  renewMs: number;
  /** Wall-clock ms when acquired. Display only: never used for safety. */
  acquiredAt: number;
  /** Wall-clock ms of this write. Display only: never used for safety. */
  renewedAt: number;
  /** True once the holder released gracefully: successors may take over at once. */
  released: boolean;
  /** Optional string attributes (region, priority, address) for observers. */
  meta?: Record<string, string>;
  /**
   * On a held record: SHA-256 (hex) of a random secret the holder chose for
   * this term and keeps to itself ({@link commitOf}). Same on every write of
   * the term.
   */
  commit?: string;
  /**
   * On a released record: the term's secret. A follower takes a release at
   * once only when `commitOf(reveal)` equals the `commit` it saw on that
   * term's held records: someone who can only read the records cannot forge
   * a release that is taken early (docs/safety.md, R9).
   */
  reveal?: string;
}

/** The commitment published for a term secret: SHA-256, lower-case hex. */
export function commitOf(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

const COMMIT_RE = /^[0-9a-f]{64}$/;
/** Longest `reveal` that decodes (regent writes 32 hex characters). */
export const MAX_REVEAL_LENGTH = 256;

/** A `commit` field that decodes: 64 lower-case hex characters (scope records reuse the rule). */
export function isCommit(x: unknown): x is string {
  return typeof x === "string" && COMMIT_RE.test(x);
}
/** A `reveal` field that decodes: a non-empty string of at most {@link MAX_REVEAL_LENGTH}. */
export function isReveal(x: unknown): x is string {
  return typeof x === "string" && x.length > 0 && x.length <= MAX_REVEAL_LENGTH;
}

/** Encodes a record to msgpack. */
export function encodeRecord(record: LeaseRecord): Uint8Array {
  return packPlain(record);
}

/** Decodes msgpack bytes; returns a reason string when the bytes are not a valid v1 record. */
export function decodeRecord(bytes: Uint8Array): LeaseRecord | string {
  let raw: unknown;
  try {
    raw = unpackPlain(bytes);
  } catch (err) {
    return `not msgpack: ${(err as Error).message}`;
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return "not a map";
  const r = raw as Record<string, unknown>;
  // A never-written key in a recreated bucket reads as its genesis record (docs/safety.md, "A lost bucket").
  if (r.regent === GENESIS_MARK) return "bucket recreated: a holder of the lost bucket may still be valid";
  if (r.v !== LEASE_RECORD_VERSION) return `unsupported schema version ${String(r.v)}`;
  if (typeof r.holder !== "string" || r.holder.length === 0) return "holder missing";
  if (!isNonNegInt(r.token)) return "token invalid";
  if (!isLeaseMs(r.leaseMs) || !isLeaseMs(r.renewMs)) return "timings invalid";
  if (!Number.isFinite(r.acquiredAt) || !Number.isFinite(r.renewedAt)) return "times invalid";
  if (typeof r.released !== "boolean") return "released flag invalid";
  if (r.meta !== undefined && !isStringMap(r.meta)) return "meta invalid";
  if (r.commit !== undefined && !isCommit(r.commit)) return "commit invalid";
  if (r.reveal !== undefined && !isReveal(r.reveal)) return "reveal invalid";
  const rec: LeaseRecord = {
    v: r.v,
    holder: r.holder,
    token: r.token as number,
    leaseMs: r.leaseMs as number,
    renewMs: r.renewMs as number,
    acquiredAt: r.acquiredAt as number,
    renewedAt: r.renewedAt as number,
    released: r.released,
  };
  if (r.meta !== undefined) rec.meta = r.meta as Record<string, string>;
  if (r.commit !== undefined) rec.commit = r.commit as string;
  if (r.reveal !== undefined) rec.reveal = r.reveal as string;
  return rec;
}


/**
 * The `leaseMs` field of undecodable bytes, when they are a msgpack map whose
 * `leaseMs` is a plausible lease: a newer schema (or another writer) that
 * keeps the field's meaning is waited out for its own lease.
 */
export function leaseMsHint(bytes: Uint8Array): number | undefined {
  try {
    const raw = unpackPlain(bytes) as Record<string, unknown> | null;
    const l = typeof raw === "object" && raw !== null && !Array.isArray(raw) ? raw.leaseMs : undefined;
    return isLeaseMs(l) ? (l as number) : undefined;
  } catch {
    return undefined;
  }
}

/** A positive, finite duration no longer than {@link MAX_LEASE_MS}. */
export function isLeaseMs(x: unknown): boolean {
  return isPosNumber(x) && (x as number) <= MAX_LEASE_MS;
}

function isNonNegInt(x: unknown): boolean {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}
function isPosNumber(x: unknown): boolean {
  return typeof x === "number" && Number.isFinite(x) && x > 0;
}
function isStringMap(x: unknown): boolean {
  return (
    typeof x === "object" &&
    x !== null &&
    !Array.isArray(x) &&
    Object.values(x as Record<string, unknown>).every((v) => typeof v === "string")
  );
}
