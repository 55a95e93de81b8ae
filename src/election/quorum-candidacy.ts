/**
 * The decision procedure of a quorum election (`quorum.ts` is its public
 * face): per-store reads, bids, renewals and releases, decided by one
 * `step()` after every reply, watch hint and timer. Pure rules are in
 * `quorum-rules.ts`, per-store bookkeeping in `quorum-slot.ts`.
 */
import { NotLeaderError } from "../errors.js";
import type { LeaseStore, StoreEntry } from "../lease/store.js";
import { viewOf, type LeaseView } from "../lease/record.js";
import { LEASE_RECORD_VERSION, commitOf, encodeRecord, type LeaseRecord } from "../wire/lease-record.js";
import type { Logger } from "../observability/logger.js";
import type { ElectionEvent } from "./election.js";
import { termOf, validityOf, type QuorumRules, type Slot } from "./quorum-rules.js";
import { callWithDeadline, dropHold, foreignChange, forgetSlot, majorityTerms, newSlotRt, observeRead, watchSlot, type SlotRt } from "./quorum-slot.js";
import { isConflict } from "./rules.js";
import { attemptTimeoutMs, type Timing } from "./timing.js";
import type { Clock } from "../util/clock.js";

type Role = "following" | "bidding" | "leader" | "releasing" | "stopped";
type WriteKind = "bid" | "take" | "renew" | "release";

/** What a candidacy runs on, resolved from the options (`quorum.ts`). */
export interface CandidacySetup {
  id: string; key: string; timing: Timing; stores: LeaseStore[]; rules: QuorumRules; log: Logger; meta: Record<string, string> | undefined;
  /** False: an observer until `setCandidate(true)`. */
  candidate: boolean;
  now: () => number; wallNow: () => number; random: () => number; clock: Clock; newSecret: () => string;
}

/** The state and decisions of one candidacy; {@link QuorumElection} adds the public API and the listeners. */
export abstract class QuorumCandidacy {
  readonly id: string;
  readonly key: string;
  readonly timing: Timing;
  /** Stores a holder needs. */
  readonly quorum: number;
  private readonly slots: SlotRt[];
  private readonly rules: QuorumRules;
  protected readonly now: () => number;
  private readonly wallNow: () => number;
  private readonly random: () => number;
  protected readonly clock: Clock;
  protected readonly log: Logger;
  private readonly meta: Record<string, string> | undefined;
  private readonly newSecret: () => string;
  protected readonly ac = new AbortController();
  protected role: Role = "following";
  protected candidate: boolean;
  protected afterRelease: "following" | "stopped" = "following";
  protected term = 0;
  private highestSeen = 0;
  private acquiredAtWall = 0;
  protected termCtl: AbortController | null = null;
  private lastValidity = Number.NEGATIVE_INFINITY;
  private bidFailures = 0;
  /**
   * The first store of a bid in store order (the same for every candidate):
   * written alone, the others only once it is decided. Two rivals meet there
   * first, so the loser stops before it wins anything elsewhere; bidding on
   * all stores at once let each win its nearest store and neither a majority.
   */
  private bidLead: SlotRt | null = null;
  /** A rival wrote over a store of this bid: write no further bid stores. */
  private bidBeaten = false;
  /** Counts candidacies (`setCandidate(true)` calls): a bid finishing in a later one than it began in is given up. */
  protected candidacy = 0;
  private bidEpoch = 0;
  private backoffUntil = Number.NEGATIVE_INFINITY;
  protected timer: unknown = null;
  private malformedLogged = false;
  /** Waiters of `resign`/`stop` (`QuorumElection.until`): re-checked after every step. */
  protected stopWaiters: (() => void)[] = [];
  /** The term's secret, revealed only in its releases, and its commitment, on its held records (safety.md R9). */
  private termSecret = "";
  private termCommit = "";

  constructor(setup: CandidacySetup) {
    ({ id: this.id, key: this.key, timing: this.timing, rules: this.rules, log: this.log, meta: this.meta, candidate: this.candidate } = setup);
    ({ now: this.now, wallNow: this.wallNow, random: this.random, clock: this.clock, newSecret: this.newSecret } = setup);
    this.quorum = this.rules.quorumSize(setup.stores.length);
    const t0 = this.now();
    this.slots = setup.stores.map((store) => newSlotRt(store, t0));
  }

  /** Starts watching every store and takes the first decision (after the subclass is constructed). */
  protected start(): void {
    this.slots.forEach((s) => this.watch(s));
    this.step();
  }

  /** Tells the listeners (`QuorumElection`); `announce` only when the leader or term changed. */
  protected abstract emit(e: ElectionEvent): void;
  protected abstract announce(leader: string, token: number): void;

  protected validity(): number {
    return validityOf(this.slots.map((s) => s.deadline), this.quorum);
  }

  /** The decision procedure: runs after every reply, hint and timer. */
  protected step(): void {
    if (this.role === "stopped" || this.ac.signal.aborted) return;
    const now = this.now();
    const q = this.quorum;
    this.lapseIfDue();
    if (this.role === "following") {
      for (const s of this.slots) if (!s.busy && this.isStaleBidOfMine(s.view)) this.write(s, "release");
      const next = this.nextTerm();
      const takeable = this.slots.filter((s) => this.takeableAt(s, next, true) <= now).length;
      // A forged term near 2^53 leaves no exact term above it: no bid (a denial of service, docs/quorum.md).
      if (this.candidate && now >= this.backoffUntil && takeable >= q && Number.isSafeInteger(next)) this.startBid(now);
    }
    if (this.role === "bidding") {
      // The lead store first, alone: a candidate that loses it to a rival
      // writes nowhere else (docs/quorum.md, "Contention and liveness"). A
      // lead no longer takeable when its turn comes (a read or a release was
      // in flight on it, and showed a change or failed) ends the bid as a
      // lost race does: it is retried after the backoff, from fresh reads.
      const lead = this.bidLead;
      if (lead !== null && lead.bid === "pending" && !lead.busy && this.candidate) {
        if (this.takeableAt(lead, this.term, true) <= now) this.write(lead, "bid");
        else [lead.bid, this.bidBeaten] = ["lost", true];
      }
      if (this.bidBeaten || !this.candidate) for (const s of this.slots) if (s.bid === "pending" && !s.busy) s.bid = "lost";
      // Computed after the lead's turn above: every pending store is then either written or decided here.
      const leadOpen = lead !== null && (lead.bid === "pending" || lead.busy);
      for (const s of this.slots) {
        if (s.bid !== "pending" || s.busy || leadOpen) continue;
        if (this.takeableAt(s, this.term, true) <= now) this.write(s, "bid");
        else s.bid = "lost";
      }
      if (this.slots.every((s) => s.bid !== "pending")) this.finishBid(now);
    }
    if (this.role === "releasing") {
      for (const s of this.slots) if (!s.busy && (s.heldRev !== null || this.isMineThisTerm(s.view))) this.write(s, "release");
      if (this.slots.every((s) => !s.busy && s.heldRev === null)) {
        this.role = this.afterRelease;
        this.backoffUntil = now + this.jitter();
        if (this.role === "stopped") this.clock.clearTimeout(this.timer);
      }
    }
    for (const s of this.slots) {
      if (s.busy || this.role === "stopped" || this.role === "releasing" || this.role === "bidding") continue;
      if (this.role === "leader" && s.heldRev !== null) {
        if (now >= s.nextRenew) this.write(s, "renew");
      } else if (this.role === "leader" && this.takeableAt(s, this.term, false) <= now) this.write(s, "take");
      else if (now >= s.nextRead) this.read(s);
    }
    for (const w of this.stopWaiters.splice(0)) w();
    this.schedule(now);
  }

  private nextTerm(): number {
    return this.rules.nextTerm(this.slots.map((s) => s.view), this.highestSeen);
  }

  private takeableAt(s: Slot, term: number, bidding: boolean): number {
    // A holder whose validity has run without a break since its bid may take
    // back a store showing a *higher* term (by the take rule below): no such
    // term can have been held yet (its bid read our term on a majority, so it
    // came after ours, and a holder needs a majority we still back), so it is
    // no token anyone used. Without this a loser's partial bid pins us to a
    // bare majority for the rest of the term (docs/quorum.md, "Stragglers").
    const holding = !bidding && this.role === "leader" && this.validity() > this.now();
    if (!holding && !this.rules.termAllows(termOf(s.view), term, bidding)) return Number.POSITIVE_INFINITY;
    const at = this.rules.takeableAt(s, this.id, term, bidding, this.timing) ?? Number.POSITIVE_INFINITY;
    // Our own release a lease later still: a follower that does not trust the
    // released term yet (R9) waits a full lease too, and the participant that
    // gave the lease up must not win it back by having seen its release first.
    const v = s.view;
    return v?.state === "released" && v.holder === this.id ? at + this.timing.leaseMs : at;
  }

  /** One timer at the earliest moment the decision could change. */
  private schedule(now: number): void {
    if (this.role === "stopped") return;
    let at = Number.POSITIVE_INFINITY;
    if (this.role === "leader") at = this.validity();
    if (this.role === "following" && this.backoffUntil > now) at = this.backoffUntil;
    for (const s of this.slots) {
      if (s.busy) continue;
      if (this.role === "leader" && s.heldRev !== null) at = Math.min(at, s.nextRenew);
      else if (this.role === "leader" || this.role === "following") {
        at = Math.min(at, s.nextRead);
        const t = this.takeableAt(s, this.role === "leader" ? this.term : this.nextTerm(), this.role !== "leader");
        if (t > now) at = Math.min(at, t);
      }
    }
    this.clock.clearTimeout(this.timer);
    this.timer = Number.isFinite(at) ? this.clock.setTimeout(() => this.step(), Math.max(0, at - now)) : null;
  }

  private startBid(now: number): void {
    this.term = this.nextTerm();
    this.highestSeen = Math.max(this.highestSeen, this.term);
    this.role = "bidding";
    this.acquiredAtWall = this.wallNow();
    this.termSecret = this.newSecret();
    this.termCommit = commitOf(this.termSecret);
    for (const s of this.slots) s.bid = this.takeableAt(s, this.term, true) <= now ? "pending" : null;
    this.bidLead = this.slots.find((s) => s.bid === "pending") ?? null;
    this.bidBeaten = false;
    this.bidEpoch = this.candidacy;
  }

  private finishBid(now: number): void {
    for (const s of this.slots) s.bid = null;
    const withdrawn = !this.candidate || this.bidEpoch !== this.candidacy;
    if (this.validity() > now && !withdrawn) {
      this.role = "leader";
      this.bidFailures = 0;
      this.termCtl = new AbortController();
      this.lastValidity = this.validity();
      this.log.info({ token: this.term, validUntil: this.lastValidity }, "elected");
      this.emit({ type: "elected", token: this.term, validUntil: this.lastValidity });
      this.announce(this.id, this.term);
      return;
    }
    // A minority (or a win heard too late, or a candidacy withdrawn meanwhile):
    // give the partial wins back at once so a competitor need not wait a
    // lease for them, and back off (longer only after a real loss).
    if (!withdrawn) this.bidFailures++;
    this.afterRelease = "following";
    this.role = "releasing";
  }

  /** A deadline that passed unnoticed (a stall) ends the term first, as `lapsed`: whatever ends it next is then a no-op. */
  protected lapseIfDue(): void {
    if (this.role === "leader" && this.now() >= this.validity()) this.depose("lapsed");
  }

  protected depose(reason: "lapsed" | "resigned" | "superseded" | "stopped"): void {
    if (this.role !== "leader") return;
    // Abort the term's signal first: guarded work stops before anyone hears.
    this.termCtl?.abort(new NotLeaderError(`deposed: ${reason}`));
    this.termCtl = null;
    this.role = "releasing";
    (reason === "lapsed" || reason === "superseded" ? this.log.warn : this.log.info).call(this.log, { token: this.term, reason }, "deposed");
    this.emit({ type: "deposed", token: this.term, reason, at: this.now() });
  }

  private record(released: boolean): LeaseRecord {
    const r: LeaseRecord = {
      v: LEASE_RECORD_VERSION, holder: this.id, token: this.term, leaseMs: this.timing.leaseMs, renewMs: this.timing.renewMs,
      acquiredAt: this.acquiredAtWall, renewedAt: this.wallNow(), released,
    };
    // Held records commit to the term's secret; only a release reveals it.
    if (released) r.reveal = this.termSecret;
    else r.commit = this.termCommit;
    if (this.meta) r.meta = this.meta;
    return r;
  }

  private isMineThisTerm(v: LeaseView | null): boolean {
    return v !== null && v.state === "held" && v.holder === this.id && v.token === this.term;
  }

  /** Our own held record of a term we no longer hold (a bid lost or lapsed, a reply lost): release it. */
  private isStaleBidOfMine(v: LeaseView | null): boolean {
    return this.term > 0 && this.isMineThisTerm(v);
  }

  private read(s: SlotRt): void {
    s.busy = true;
    callWithDeadline(this.ac.signal, this.timing.attemptMs, this.clock, (signal) => s.store.get(this.key, { signal })).then(
      (entry) => this.done(s, () => this.onRead(s, entry)),
      (err) => this.done(s, () => this.onFail(s, err, "get")),
    );
  }

  private onRead(s: SlotRt, entry: StoreEntry | null): void {
    const now = this.now();
    const v = viewOf(entry);
    // A store that went back (a restart lost its newest writes) is treated as recreated.
    const from = observeRead(s, v, now, this.timing);
    if (from !== null) this.log.warn({ store: s.store.name, from, to: v.revision }, "store revision went back");
    s.nextRead = now + this.timing.renewMs;
    this.highestSeen = Math.max(this.highestSeen, termOf(v));
    if (s.heldRev !== null && v.revision !== s.heldRev) this.lose(s);
    if (v.state === "unknown" && !this.malformedLogged) {
      this.malformedLogged = true;
      this.log.warn({ store: s.store.name, revision: v.revision, reason: v.reason }, "undecodable lease record: treated as held by unknown");
    }
    if (this.role !== "leader") this.announceMajority();
  }

  private onFail(s: SlotRt, err: unknown, op: string): void {
    // Anything may have happened, a restart included: trust nothing learnt before.
    forgetSlot(s);
    s.settledSince = null;
    s.nextRead = this.now() + this.jitter();
    this.emit({ type: "error", op: `${op}:${s.store.name}`, error: err });
  }

  /** Someone else wrote where we held: this store no longer backs us. */
  private lose(s: SlotRt): void {
    this.lapseIfDue();
    dropHold(s);
    if (this.role === "leader" && this.now() >= this.validity()) this.depose("superseded");
  }

  private write(s: SlotRt, kind: WriteKind): void {
    const value = encodeRecord(this.record(kind === "release"));
    const expected = kind === "renew" || (kind === "release" && s.heldRev !== null) ? s.heldRev! : (s.view?.revision ?? 0);
    const create = expected === 0 || (kind !== "renew" && s.heldRev === null && s.view?.state === "vacant");
    s.busy = true;
    s.changedTo = 0;
    const sendAt = this.now();
    // A renewal leaves room for a retry before this store's deadline (once past it, nothing to hurry for).
    const left = s.deadline - sendAt;
    const ms = kind === "renew" && left > 0 ? attemptTimeoutMs(this.timing, left) : this.timing.attemptMs;
    const call = (signal: AbortSignal) => (create ? s.store.create(this.key, value, { signal }) : s.store.update(this.key, value, expected, { signal }));
    callWithDeadline(this.ac.signal, ms, this.clock, call).then(
      (rev) => this.done(s, () => this.onWritten(s, kind, rev, sendAt)),
      (err) => this.done(s, () => this.onWriteFailed(s, kind, err)),
    );
  }

  private onWritten(s: SlotRt, kind: WriteKind, rev: number, sendAt: number): void {
    const now = this.now();
    if (s.changedTo > rev) {
      // The watch showed a later revision that was not this write: someone
      // else wrote over it before we heard back. It backs nothing.
      if (kind === "bid") [s.bid, this.bidBeaten] = ["lost", true];
      forgetSlot(s);
      s.nextRead = now;
      this.lose(s);
      return;
    }
    s.view = viewOf({ key: this.key, revision: rev, operation: "put", value: encodeRecord(this.record(kind === "release")) });
    s.observedSince = now;
    // Our own release ends our term: what is written over it needs no wait on our account.
    s.free = kind === "release";
    s.seenTerm = kind === "release" ? null : { holder: this.id, token: this.term, commit: this.termCommit, trustedAt: now };
    if (kind === "release") {
      dropHold(s);
      return;
    }
    s.heldRev = rev;
    s.deadline = this.rules.storeDeadline(sendAt, now, this.timing);
    s.nextRenew = sendAt + this.timing.renewMs * (1 - 0.1 * this.random());
    if (kind === "bid") s.bid = "won";
    if (this.role !== "leader" && kind !== "bid") return;
    const v = this.validity();
    if (this.role === "leader" && v > this.lastValidity) {
      this.lastValidity = v;
      this.emit({ type: "renewed", token: this.term, validUntil: v });
    }
  }

  private onWriteFailed(s: SlotRt, kind: WriteKind, err: unknown): void {
    if (kind === "bid") s.bid = "lost";
    if (kind === "bid" && isConflict(err)) this.bidBeaten = true;
    if (isConflict(err)) {
      // A real answer: the store is fine, our view of it is stale, and
      // someone else wrote there: trust nothing we read next at once (a lost race).
      forgetSlot(s);
      s.nextRead = this.now();
      if (kind === "release") s.heldRev = null;
      else this.lose(s);
      return;
    }
    // Outcome unknown. A renewal keeps its last confirmed deadline (a bound
    // from an earlier send); a lost release is given up (best effort).
    if (kind === "release") dropHold(s);
    if (kind === "renew") s.nextRenew = this.now() + Math.max(1, Math.min(this.timing.retryMs * (0.5 + this.random()), (this.validity() - this.now()) / 4));
    this.onFail(s, err, kind);
  }

  private done(s: SlotRt, fn: () => void): void {
    s.busy = false;
    if (this.role === "stopped" || this.ac.signal.aborted) return;
    fn();
    this.step();
  }

  private jitter(): number {
    const exp = Math.min(8, 2 ** Math.max(0, this.bidFailures - 1));
    return Math.max(1, Math.round(this.timing.retryMs * exp * (0.5 + this.random())));
  }

  /**
   * Keeps a watch per store. An entry is a hint to read (reads are what the
   * rules use), except a change on a store we hold that we did not write:
   * that store stops backing us at once (docs/quorum.md, "Forged records").
   */
  private watch(s: SlotRt): void {
    const own = () => ({ id: this.id, term: this.term, commit: this.termCommit, leaseMs: this.timing.leaseMs });
    watchSlot(s, this.key, this.ac.signal, this.clock, this.timing.retryMs * 4, (e) => {
      if (foreignChange(s, e, own())) this.lose(s);
      else if (e.revision === s.view?.revision || s.busy) return;
      else s.nextRead = this.now();
      this.step();
    }, (err) => {
      if (this.role === "stopped") return;
      this.onFail(s, err, "watch");
      this.step();
    });
  }

  private announceMajority(): void {
    for (const t of majorityTerms(this.slots.map((s) => s.view), this.quorum)) this.announce(t.holder, t.token);
  }
}
