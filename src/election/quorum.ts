/**
 * A lease held on a majority of independent stores (issue 11): the same key
 * in N single-replica buckets, each a linearizable compare-and-set register,
 * none replicated with another. A dead store costs nothing while a majority
 * answers. The same public API as {@link Election}; docs/quorum.md argues
 * why no two holders overlap and why tokens (terms) strictly increase.
 *
 * Not an xstate machine, unlike `machine.ts`: the algorithm is N independent
 * per-store conversations joined by a count, which a statechart would spell
 * as N parallel regions plus a coordinator. Instead the rules are pure
 * functions (`quorum-rules.ts`) and this file is one reactive `step()` that
 * runs after every reply, watch hint and timer, on an injectable clock, so
 * it is deterministic under `SimulatedClock` and the simulation scheduler.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { ConfigError, StoppedError, AbortedError, NotLeaderError } from "../errors.js";
import type { LeaseStore, StoreEntry } from "../lease/store.js";
import { viewOf, type LeaseView } from "../lease/record.js";
import { silentLogger, type Logger } from "../observability/logger.js";
import { monotonicNowMs } from "../util/clock.js";
import { subscribeStalls } from "../observability/stall-shared.js";
import { listen } from "../util/listen.js";
import { realClock, type TimerClock } from "../util/timers.js";
import type { ElectionEvent, Leadership } from "./election.js";
import { safeRules, termOf, validityOf, type QuorumRules, type Slot } from "./quorum-rules.js";
import { callWithDeadline, foreignChange, forgetSlot, majorityTerms, newSlotRt, observeRead, watchSlot, type SlotRt } from "./quorum-slot.js";
import { attemptTimeoutMs, resolveTiming, validateId, type Timing, type TimingOptions } from "./timing.js";
import { validateKey } from "../lease/keys.js";
import { LEASE_RECORD_VERSION, commitOf, encodeRecord, type LeaseRecord } from "../wire/lease-record.js";
import { mutationsOf } from "./mutations.js";

/** Options of {@link startQuorumElection}. */
export interface QuorumElectionOptions extends TimingOptions {
  /** The independent stores (one R1 bucket per server or region); a holder needs a majority of them. */
  stores: LeaseStore[];
  key: string;
  id?: string;
  logger?: Logger;
  meta?: Record<string, string>;
  /** Event-loop stall threshold in ms; 0 disables the monitor. Default 200. */
  stallThresholdMs?: number;
  /**
   * False to start as an observer: it reads and watches every store (so its
   * waits run) but bids only after {@link QuorumElection.setCandidate}(true).
   * Default true.
   */
  candidate?: boolean;
  /** Deterministic simulation, as in `ElectionOptions` (mutation tests attach rules through mutations.ts). */
  simulation?: { now: () => number; clock: TimerClock; random: () => number; wallNow?: () => number };
}

type Role = "following" | "bidding" | "leader" | "releasing" | "stopped";
type WriteKind = "bid" | "take" | "renew" | "release";
const isConflict = (e: unknown) => (e as { code?: string } | null)?.code === "CONFLICT";

/** A candidacy on a quorum of stores. Create with {@link startQuorumElection}. */
export class QuorumElection {
  readonly id: string;
  readonly key: string;
  readonly timing: Timing;
  /** Stores a holder needs. */
  readonly quorum: number;
  private readonly slots: SlotRt[];
  private readonly rules: QuorumRules;
  private readonly now: () => number;
  private readonly wallNow: () => number;
  private readonly random: () => number;
  private readonly clock: TimerClock;
  private readonly log: Logger;
  private readonly meta: Record<string, string> | undefined;
  private readonly listeners = new Set<(e: ElectionEvent) => void>();
  private readonly ac = new AbortController();
  private role: Role = "following";
  private candidate: boolean;
  private afterRelease: "following" | "stopped" = "following";
  private term = 0;
  private highestSeen = 0;
  private acquiredAtWall = 0;
  private announced: string | null = null;
  private termCtl: AbortController | null = null;
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
  private candidacy = 0;
  private bidEpoch = 0;
  private backoffUntil = Number.NEGATIVE_INFINITY;
  private timer: unknown = null;
  private malformedLogged = false;
  private stalls = { count: 0, maxMs: 0 };
  private unsubscribeStalls: () => void = () => {};
  private stopWaiters: (() => void)[] = [];
  /** The term's secret, revealed only in its releases, and its commitment, on its held records (safety.md R9). */
  private termSecret = "";
  private termCommit = "";
  private readonly newSecret: () => string;

  constructor(opts: QuorumElectionOptions) {
    if (!opts || typeof opts !== "object") throw new ConfigError("options", "startQuorumElection: options object required", { named: true });
    this.timing = resolveTiming(opts);
    this.key = validateKey("key", opts.key);
    this.id = validateId("id", opts.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`);
    if (!Array.isArray(opts.stores) || opts.stores.length === 0) throw new ConfigError("stores", "at least one store required");
    this.log = (opts.logger ?? silentLogger()).child({ election: this.key, id: this.id, stores: opts.stores.length });
    const sim = opts.simulation;
    this.now = sim?.now ?? monotonicNowMs;
    this.wallNow = sim?.wallNow ?? Date.now;
    this.random = sim?.random ?? Math.random;
    this.clock = sim?.clock ?? realClock;
    this.rules = { ...safeRules, ...mutationsOf(sim).quorumRules };
    this.meta = opts.meta;
    this.candidate = opts.candidate ?? true;
    let n = 0;
    this.newSecret = sim ? () => `sim-${this.id}-${++n}` : () => randomBytes(16).toString("hex");
    this.quorum = this.rules.quorumSize(opts.stores.length);
    const t0 = this.now();
    this.slots = opts.stores.map((store) => newSlotRt(store, t0));
    const threshold = opts.stallThresholdMs ?? 200;
    if (!sim && threshold > 0) this.unsubscribeStalls = subscribeStalls(threshold, (s) => this.onStall(s.durationMs));
    this.slots.forEach((s) => this.watch(s));
    this.step();
  }

  /** True while a quorum of stores backs this candidate and the deadline has not passed. */
  isLeader(): boolean {
    return this.leadership() !== null;
  }

  /** The current term (token = term number), or null. */
  leadership(): Leadership | null {
    if (this.role !== "leader" || !this.termCtl) return null;
    const validUntil = this.validity();
    if (this.now() >= validUntil) return null;
    return { token: this.term, validUntil, signal: this.termCtl.signal };
  }

  /** following, bidding, leader, releasing or stopped. */
  state(): string {
    return this.role;
  }

  stallStats(): { count: number; maxMs: number } {
    return { ...this.stalls };
  }

  on(listener: (e: ElectionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  events(opts: { signal?: AbortSignal } = {}): AsyncGenerator<ElectionEvent> {
    return listen<ElectionEvent>((push) => this.on(push), { signal: opts.signal, ended: () => this.role === "stopped" });
  }

  /** Ends the term (`deposed` first), releases every store; resolves when the releases are done. */
  async resign(opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.role === "stopped") throw new StoppedError();
    if (this.role !== "leader") return;
    this.depose("resigned");
    this.step();
    await this.until(() => this.role !== "releasing", opts.signal);
  }

  /** Stops the candidacy, resigning first if leader. Idempotent. */
  async stop(opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.role === "stopped") return;
    this.afterRelease = "stopped";
    if (this.role === "leader") this.depose("stopped");
    else if (this.role !== "releasing") this.role = "releasing";
    this.step();
    try {
      await this.until(() => this.role === "stopped", opts.signal);
    } finally {
      this.role = "stopped";
      this.ac.abort();
      this.clock.clearTimeout(this.timer);
      this.unsubscribeStalls();
      for (const l of this.listeners) l({ type: "leader-changed", leader: null, token: null });
      this.listeners.clear();
    }
  }

  /**
   * Starts or ends the candidacy without losing what was watched. Ending it
   * ends a held term at once (`deposed`, reason `resigned`, before this
   * returns) and gives up a bid in progress; the stores are still watched.
   */
  setCandidate(on: boolean): void {
    if (this.role === "stopped" || this.candidate === on) return;
    this.candidate = on;
    if (on) this.candidacy++;
    else this.depose("resigned");
    this.step();
  }

  /** Re-checks the deadline now (after stalls, and for simulations). */
  tick(): void {
    this.step();
  }

  private validity(): number {
    return validityOf(this.slots.map((s) => s.deadline), this.quorum);
  }

  private until(pred: () => boolean, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (pred()) return resolve();
      const onAbort = () => reject(new AbortedError("aborted", { cause: signal?.reason }));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      const check = () => (pred() ? (signal?.removeEventListener("abort", onAbort), resolve()) : this.stopWaiters.push(check));
      this.stopWaiters.push(check);
    });
  }

  /** The decision procedure: runs after every reply, hint and timer. */
  private step(): void {
    if (this.role === "stopped" || this.ac.signal.aborted) return;
    const now = this.now();
    const q = this.quorum;
    if (this.role === "leader" && now >= this.validity()) this.depose("lapsed");
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

  private depose(reason: "lapsed" | "resigned" | "superseded" | "stopped"): void {
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
    s.heldRev = null;
    s.deadline = Number.NEGATIVE_INFINITY;
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
      s.heldRev = null;
      s.deadline = Number.NEGATIVE_INFINITY;
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
    if (kind === "release") {
      s.heldRev = null;
      s.deadline = Number.NEGATIVE_INFINITY;
    }
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

  private announce(leader: string, token: number): void {
    const k = `${token}\u0000${leader}`;
    if (k === this.announced) return;
    this.announced = k;
    this.emit({ type: "leader-changed", leader, token });
  }

  private emit(e: ElectionEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch (err) {
        this.log.error({ err, event: e.type }, "election listener threw");
      }
    }
  }

  private onStall(durationMs: number): void {
    this.stalls.count++;
    this.stalls.maxMs = Math.max(this.stalls.maxMs, durationMs);
    this.emit({ type: "stall", durationMs, token: this.role === "leader" ? this.term : null });
    this.step();
  }
}

/** Starts a candidacy on a majority of `opts.stores`. Throws {@link ConfigError} on invalid options. */
export function startQuorumElection(opts: QuorumElectionOptions): QuorumElection {
  return new QuorumElection(opts);
}
