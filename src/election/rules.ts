/**
 * The election's types and the pure rules shared by the machine
 * (`machine.ts`: the term's life cycle) and the steady renewal path
 * (`steady.ts`: a holder's renewals while they succeed). Both read the same
 * functions, so a renewal is computed the same way on either path.
 */
import type { StoreEntry } from "../lease/store.js";
import { leaseToWait, viewOf, type LeaseView } from "../lease/record.js";
import { isFree, judge, type SeenTerm } from "./attribution.js";
import type { Timing } from "./timing.js";
import { LEASE_RECORD_VERSION, encodeRecord, type LeaseRecord } from "../wire/lease-record.js";
import type { DeposedReason } from "../wire/events.js";

/** Why a holder of one election stopped being leader: every reason but `region-lost`, which only a node's global tier has. */
export type ElectionDeposedReason = Exclude<DeposedReason, "region-lost">;

/** Events the machine emits (see `actor.on`). */
export type ElectionEmitted =
  | { type: "elected"; token: number; validUntil: number }
  | { type: "renewed"; token: number; validUntil: number }
  | { type: "deposed"; token: number; reason: ElectionDeposedReason; at: number }
  | { type: "leader-changed"; leader: string | null; token: number | null }
  | { type: "malformed"; revision: number; reason: string }
  | { type: "store-error"; op: string; error: unknown };

/** Input of the machine. `now` is monotonic milliseconds; `wallNow` is display only. */
export interface ElectionInput {
  key: string;
  id: string;
  timing: Timing;
  now: () => number;
  wallNow: () => number;
  random: () => number;
  /** A fresh unguessable term secret (`election.ts`: 128 random bits). */
  secret: () => string;
  meta?: Record<string, string>;
  /** Runs the holder's steady renewals outside the machine (`steady.ts`). */
  steady: SteadyRunner;
}

/** The steady renewal path as the machine sees it (`steady.ts`). */
export interface SteadyRunner {
  /** On entering `leader.steady`: renew from `ctx`'s last write on, telling the machine through `send`. */
  start(ctx: ElectionContext, send: (e: MachineEvent) => void): void;
  /** On leaving it (and when the election stops): a write in flight is abandoned. */
  stop(): void;
  /** A watch change: false when a steady leader would ignore it; otherwise syncs the machine first. */
  admit(entry: StoreEntry | null): boolean;
  /** Syncs the machine before any other event reaches it (every event re-checks the deadline). */
  flush(): void;
}

export interface ElectionContext extends ElectionInput {
  /** Revision being observed as a follower, and since when (monotonic ms). */
  observedRevision: number;
  observedSince: number;
  /** How long to watch the observed revision before a takeover: max(own lease, the record's). */
  observedLeaseMs: number;
  /** The observed revision is a delete marker or absence: acquire with `create`. */
  observedVacant: boolean;
  /** The observed state may be taken at once (see `attribution.ts`). */
  observedFree: boolean;
  /** The held term being watched, and its commitment if trusted. */
  seenTerm: SeenTerm | null;
  /** The acquiring write's store-error name: a free state taken at once, or one waited out for a full lease. */
  acquireOp: "acquire" | "takeover";
  /** Our own term's secret (revealed only in our release) and its commitment. */
  termSecret: string;
  termCommit: string;
  /** Last leader announced through `leader-changed`, to emit only changes. */
  announcedLeader: string | null;
  announcedToken: number | null;
  /** Holder state. `revision` is our last known revision of the key. */
  revision: number;
  token: number;
  deadline: number;
  acquiredAtWall: number;
  /** Send time of the write in flight, and of the earliest write whose outcome is unknown. */
  sendAt: number;
  unconfirmedSince: number | null;
  /** Consecutive failures, for backoff. */
  failures: number;
  stopRequested: boolean;
}

/**
 * What the steady renewal path (`steady.ts`) changed since the machine last
 * saw it: the holder fields a renewal moves, and when the last one succeeded
 * (`confirmedAt`: null if none did). Carried by `RENEW.SYNC`/`RENEW.FAILED`.
 */
export interface SteadyState {
  revision: number;
  deadline: number;
  sendAt: number;
  unconfirmedSince: number | null;
  confirmedAt: number | null;
}

/** What the machine hears (store, caller, steady path); listeners hear the public `ElectionEvent` (election.ts). */
export type MachineEvent =
  | { type: "STORE.CHANGE"; entry: StoreEntry | null }
  | { type: "STORE.WATCH_ERROR"; error: unknown }
  | { type: "RESIGN" }
  | { type: "STOP" }
  /** Sent after an event-loop stall so the deadline is re-checked at once. */
  | { type: "TICK" }
  /**
   * The host was suspended: the monotonic clock did not count that time, so
   * a deadline computed on it is no longer an upper bound. Deposes a leader
   * at once and abandons an acquiring write in flight.
   */
  | { type: "SUSPENDED" }
  /** The steady path's state, before any other event reaches the leader (`steady.ts`). */
  | { type: "RENEW.SYNC"; state: SteadyState }
  /** A steady renewal failed: the machine takes over the retries. */
  | { type: "RENEW.FAILED"; state: SteadyState; error: unknown };

/**
 * A conditional write. `timeoutMs`, when set, bounds this attempt below the
 * store's own timeout: a renewal must not spend the last of the validity
 * waiting on an attempt whose request or ack was lost.
 */
export type WriteInput = { key: string; value: Uint8Array; revision: number; timeoutMs?: number };

/** The holder fields a renewal reads (the machine's context or the steady path's copy). */
type HolderFields = Pick<ElectionContext, "id" | "meta" | "timing" | "acquiredAtWall" | "wallNow" | "termSecret" | "termCommit">;

export function record(ctx: HolderFields, token: number, released: boolean): LeaseRecord {
  const rec: LeaseRecord = {
    v: LEASE_RECORD_VERSION,
    holder: ctx.id,
    token,
    leaseMs: ctx.timing.leaseMs,
    renewMs: ctx.timing.renewMs,
    acquiredAt: ctx.acquiredAtWall,
    renewedAt: ctx.wallNow(),
    released,
  };
  if (ctx.meta) rec.meta = ctx.meta;
  // Held records commit to the term secret; only the release reveals it.
  if (released) rec.reveal = ctx.termSecret;
  else rec.commit = ctx.termCommit;
  return rec;
}

/** The encoded record of a renewal. */
export const renewalValue = (ctx: HolderFields & { token: number }): Uint8Array => encodeRecord(record(ctx, ctx.token, false));

export function jitter(ctx: Pick<ElectionContext, "failures" | "random">, base: number): number {
  // Exponential backoff capped at 4× base, with ±50 % jitter so that
  // candidates that failed together do not retry together.
  const exp = Math.min(4, 2 ** Math.max(0, ctx.failures - 1));
  return Math.max(1, Math.round(base * exp * (0.5 + ctx.random())));
}

/**
 * Next renewal: one renew interval after the last send, less up to 10 % at
 * random; the first renewal of a term anywhere in the second half of the
 * interval. Without this, elections started together renew together forever
 * (bursts of N writes per interval: the renew tail at scale). Only ever
 * earlier, so the two-renewals-per-validity rule still holds.
 */
export function untilRenew(ctx: Pick<ElectionContext, "revision" | "token" | "random" | "sendAt" | "timing" | "now">): number {
  const first = ctx.revision === ctx.token;
  const scale = first ? 0.5 + 0.5 * ctx.random() : 1 - 0.1 * ctx.random();
  return Math.max(0, ctx.sendAt + ctx.timing.renewMs * scale - ctx.now());
}

/** Validity after a successful write sent at `sendAt`: lease × (1 − drift) − margin, from the send. */
export const deadlineAfter = (ctx: Pick<ElectionContext, "timing">, sendAt: number): number => sendAt + ctx.timing.validForMs;

export const view = (payload: unknown): LeaseView => viewOf(payload as StoreEntry | null);
/** The store entry carried by an actor's done event or by a watch change. */
export const payloadOf = (event: object): unknown => ("output" in event ? event.output : "entry" in event ? event.entry : null);
export const errorOf = (event: object): unknown => ("error" in event ? event.error : undefined);
export const revisionOf = (event: object): number => Number(payloadOf(event));
export const isConflict = (error: unknown) => (error as { code?: string } | null)?.code === "CONFLICT";
/** Vacant, or released by someone else, and attributable (a verified release, not a forged delete). */
export const takeable = (ctx: ElectionContext, v: LeaseView) =>
  (v.state === "vacant" || (v.state === "released" && v.holder !== ctx.id)) && isFree(ctx, v, ctx.now());

/** The fields `ownWrite` and `foreignChange` read. */
type OwnFields = Pick<ElectionContext, "id" | "token" | "termCommit" | "timing" | "unconfirmedSince" | "revision">;
/**
 * May be a write of our own: only while one of ours is unconfirmed, with our
 * holder, token, commitment and lease. A forger can copy all of them, so it
 * neither deposes us nor extends our validity (`adopt`).
 */
export const ownWrite = (ctx: OwnFields, v: LeaseView) =>
  v.state === "held" &&
  v.holder === ctx.id &&
  v.token === ctx.token &&
  v.record.commit === ctx.termCommit &&
  v.record.leaseMs === ctx.timing.leaseMs &&
  ctx.unconfirmedSince !== null;
/**
 * A leader's watch: a revision newer than our own last write that we did not
 * write — replaced, released or deleted by anyone else. Our renewal CAS would
 * fail on it anyway; acting on the watch stops us a renewal interval earlier.
 */
export const foreignChange = (ctx: OwnFields, entry: StoreEntry | null) =>
  entry !== null && entry.revision > ctx.revision && !ownWrite(ctx, viewOf(entry));
/**
 * What a leader notes about its own latest write (confirmed at `at`), so that
 * it judges later changes like a follower that saw it.
 */
export const observedOwn = (ctx: Pick<ElectionContext, "id" | "termCommit" | "timing">, revision: number, token: number, at: number) => ({
  observedRevision: revision,
  observedSince: at,
  observedLeaseMs: ctx.timing.leaseMs,
  observedVacant: false,
  observedFree: false,
  seenTerm: { holder: ctx.id, token, commit: ctx.termCommit, trustedAt: at },
});

/**
 * Follower bookkeeping for a revision not observed before (`observe`):
 * restart the full-lease wait, with what may be taken at once.
 */
export function observed(ctx: ElectionContext, v: LeaseView) {
  const j = judge(ctx, v, ctx.now());
  // A state that names no lease (a recreated bucket's genesis
  // placeholder, a vacancy not proven free) may follow a holder whose
  // term is not provably over: keep waiting at least that holder's lease.
  const namesNoLease = v.state === "vacant" || (v.state === "unknown" && v.leaseMs === undefined);
  // Our own release (resign, lapse, stop) is waited out a lease longer:
  // a follower that does not trust the released term yet (R9) also
  // waits a full lease, and the one that gave the lease up must not win
  // it back by seeing its release a moment earlier. Only longer: safe.
  const ownRelease = v.state === "released" && v.holder === ctx.id;
  const wait = leaseToWait(v, ctx.timing.leaseMs, ctx.timing.maxLeaseMs) + (ownRelease ? ctx.timing.leaseMs : 0);
  return {
    observedRevision: v.revision,
    observedSince: ctx.now(),
    observedVacant: v.state === "vacant",
    observedLeaseMs: namesNoLease && !j.free ? Math.max(wait, ctx.observedLeaseMs) : wait,
    observedFree: j.free,
    seenTerm: j.seenTerm,
  };
}

/**
 * A holder retries a failed renewal without exponential backoff, and more
 * often as the deadline nears: riding out a 4–8 s stream-leader election
 * depends on the first write after it. Never above retryMs, so that the
 * attempt deadlines (`attemptTimeoutMs`) leave room for the next attempt.
 */
export const renewRetryMs = (ctx: ElectionContext): number =>
  Math.max(1, Math.min(ctx.timing.retryMs * (0.5 + 0.5 * ctx.random()), (ctx.deadline - ctx.now()) / 4));

/**
 * After a lost renewal CAS: a *newer* revision that may be ours (`ownWrite`).
 * It proves nothing about when it was written, so it only lets us renew
 * over it; the same revision means nothing of ours landed.
 */
export const stillMine = (ctx: ElectionContext, v: LeaseView) => v.revision > ctx.revision && ownWrite(ctx, v);
/**
 * After a lost renewal CAS: a read *older* than our own last revision is
 * stale (a new stream leader that has not applied the latest entries yet)
 * and proves nothing, so it must neither depose nor extend. An absent key
 * (revision 0: a `get` cannot tell a newer delete from a lag) is not stale.
 */
export const staleRead = (ctx: ElectionContext, v: LeaseView) => v.revision > 0 && v.revision < ctx.revision;
/** After a lost renewal CAS: our record, unchanged. */
export const unchangedMine = (ctx: ElectionContext, v: LeaseView) =>
  v.state === "held" && v.holder === ctx.id && v.token === ctx.token && v.revision === ctx.revision;
