/**
 * Per-store bookkeeping of `quorum.ts` that needs no access to the election:
 * the slot record, what a read teaches it (settling, attribution), the
 * holder's check of watch entries (docs/quorum.md, "Forged records"), the
 * watch loop, store calls with a deadline, and which term a majority of
 * stores shows.
 */
import { StoreUnavailableError } from "../errors.js";
import type { LeaseStore, StoreEntry } from "../lease/store.js";
import { viewOf, type LeaseView } from "../lease/record.js";
import { deadlineSignal, sleep } from "../util/timers.js";
import { attribute, type Slot } from "./quorum-rules.js";
import type { Timing } from "./timing.js";
import type { Clock } from "../util/clock.js";

/** One store as the election tracks it. */
export interface SlotRt extends Slot {
  store: LeaseStore;
  busy: boolean;
  nextRead: number;
  nextRenew: number;
  bid: "pending" | "won" | "lost" | null;
  /** Highest revision the watch showed since our write in flight was sent (0: none): a reply below it does not hold the store. */
  changedTo: number;
}

export function newSlotRt(store: LeaseStore, now: number): SlotRt {
  return {
    store, view: null, observedSince: now, settledSince: null, heldRev: null, deadline: Number.NEGATIVE_INFINITY,
    free: false, seenTerm: null, busy: false, nextRead: now, nextRenew: now, bid: null, changedTo: 0,
  };
}

/** The store no longer backs us (written over, released, a release given up): no held revision, no deadline. */
export function dropHold(s: Slot): void {
  s.heldRev = null;
  s.deadline = Number.NEGATIVE_INFINITY;
}

/** Our view of the store is stale or untrusted (a failure, a lost race): trust nothing learnt before. */
export function forgetSlot(s: Slot): void {
  s.view = null;
  s.free = false;
  s.seenTerm = null;
}

/**
 * Records a successful read of `v` (reply at `now`): the first read after a
 * failure settles the store; a revision going back (a restart that lost
 * writes) counts as one; a new revision restarts the watch and is judged
 * (attribution). Returns the revision it went back from, or null.
 */
export function observeRead(s: Slot, v: LeaseView, now: number, timing: Timing): number | null {
  let wentBackFrom: number | null = null;
  if (s.settledSince === null) s.settledSince = now;
  else if (s.view && v.revision < s.view.revision) {
    wentBackFrom = s.view.revision;
    s.settledSince = now;
    forgetSlot(s);
  }
  if (!s.view || v.revision !== s.view.revision) {
    ({ free: s.free, seenTerm: s.seenTerm } = attribute(s, v, now, timing));
    s.observedSince = now;
  }
  s.view = v;
  return wentBackFrom;
}

/** What our own held records of the current term look like. */
export interface OwnTerm {
  id: string;
  term: number;
  commit: string;
  leaseMs: number;
}

/**
 * Whether watch entry `e` is a change on a store we hold that we did not
 * write. While a write of ours is in flight, a held record with our holder,
 * term, commitment and lease may be it landing: it neither drops the store
 * nor counts (a forger can copy all of that; the write's reply, checked
 * against `changedTo`, or the CAS after it decides). Older entries change nothing.
 */
export function foreignChange(s: SlotRt, e: StoreEntry, own: OwnTerm): boolean {
  if (s.busy) s.changedTo = Math.max(s.changedTo, e.revision);
  if (s.heldRev === null || e.revision <= s.heldRev) return false;
  const v = viewOf(e);
  const mine = v.state === "held" && v.holder === own.id && v.token === own.term && v.record.commit === own.commit && v.record.leaseMs === own.leaseMs;
  return !(mine && s.busy);
}

/** Keeps a watch on `key` of `s.store` until `signal` aborts; a broken watch is reported and reopened. */
export function watchSlot(s: SlotRt, key: string, signal: AbortSignal, clock: Clock, pauseMs: number, onEntry: (e: StoreEntry) => void, onBroken: (err: unknown) => void): void {
  void (async () => {
    while (!signal.aborted) {
      try {
        for await (const e of s.store.watch(key, { signal })) onEntry(e);
      } catch (err) {
        if (!signal.aborted) onBroken(err);
      }
      if (!signal.aborted) await sleep(pauseMs, signal, clock);
    }
  })();
}

/** The held terms (holder, token) that a majority (`q`) of the views show. */
export function majorityTerms(views: (LeaseView | null)[], q: number): { holder: string; token: number }[] {
  const counts = new Map<string, { holder: string; token: number; n: number }>();
  for (const v of views) {
    if (v?.state !== "held") continue;
    const k = `${v.token}\u0000${v.holder}`;
    const c = counts.get(k) ?? { holder: v.holder, token: v.token, n: 0 };
    c.n++;
    counts.set(k, c);
  }
  return [...counts.values()].filter((c) => c.n >= q);
}

/**
 * One store call that also gives up `ms` after now on `clock` (the election's,
 * so simulations stay deterministic): a call that never answers must not keep
 * its store busy for good, nor keep `stop()` waiting. The timeout becomes a
 * StoreUnavailableError: a write's outcome is unknown, as with a lost reply.
 */
export async function callWithDeadline<T>(signal: AbortSignal, ms: number, clock: Clock, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const d = deadlineSignal(signal, ms, clock);
  try {
    return await fn(d.signal);
  } catch (err) {
    if (d.expired() && !signal.aborted) throw new StoreUnavailableError(`store call abandoned after ${Math.round(ms)} ms`, { cause: err });
    throw err;
  } finally {
    d.clear();
  }
}
