/**
 * The lessee of scope leases held on a majority of N independent stores
 * (docs/quorum.md, "Scope leases over a quorum"). Runs on a regional leader
 * only, like `lessee.ts`, and keeps its events and `term()` shape; per scope
 * it is a quorum candidate whose right to bid comes from the authority:
 *
 * - it **confirms** (CAS) on every store showing a grant of term T to this
 *   node, once a majority shows it: `held` when the confirms land on a
 *   majority in time, else it gives the partial confirms back (release) and
 *   never bids for T again;
 * - while held it renews every store it holds, confirms T on any further
 *   store that shows it (the authority catches stragglers up), and its
 *   validity is the q-th largest per-store deadline (send + validFor),
 *   capped by the regional validity; at that deadline it stops acting;
 * - a recall of T on any store ends the term (`recalled`); another writer on
 *   a held store drops that store; the end of a term releases every store;
 * - each bid draws a term secret: its held records carry the commitment, its
 *   releases the secret, so the authority can tell them from forgeries
 *   (docs/quorum.md, "Forged scope records").
 *
 * Pure and clock-injected: one reactive `step()` per scope after every reply,
 * watch hint and timer, as in `election/quorum.ts`.
 */
import { randomBytes } from "node:crypto";
import { attemptTimeoutMs, type Timing } from "../election/timing.js";
import { validityOf } from "../election/quorum-rules.js";
import { dropHold } from "../election/quorum-slot.js";
import type { LeaseStore, StoreEntry } from "../lease/store.js";
import type { Logger } from "../observability/logger.js";
import { WIRE_VERSION, type ScopeEvent } from "../wire/events.js";
import { deadlineSignal } from "../util/timers.js";
import type { LesseeEvent, ScopeEndReason } from "./types.js";
import { scopeViewOf, type ScopeView } from "./record.js";
import { isConflict, recordOf, newSlot, noteFailure, noteRead, scopeRules, scopeTerm, setView, settle, watchScopeKeys, type ScopeQuorumRules } from "./quorum-scope.js";
import { lesseeRecord, type Kind, type LSlot, type TermSecret } from "./quorum-lessee-record.js";
import { commitOf } from "../wire/lease-record.js";
import { encodeScope, type ScopeRecord } from "../wire/scope-record.js";
import { scopeKey } from "../wire/names.js";
import { NotLeaderError } from "../errors.js";
import type { Clock } from "../util/clock.js";

export interface QuorumLesseeOptions {
  /** The independent stores (one R1 bucket per region), in the same order for every participant. */
  stores: LeaseStore[];
  scopes: string[];
  region: string;
  node: string;
  cluster: string;
  timing: Timing;
  clock: Clock;
  random: () => number;
  /** The regional validity deadline right now (0 when not regional leader). */
  regionalDeadline: () => number;
  log: Logger;
  emit: (e: LesseeEvent) => void;
  publish?: (e: ScopeEvent) => void;
  /**
   * Highest term per scope this node ever bid for, shared by its successive
   * lessees (a node that loses and regains its region must never confirm a
   * term again). Default: this lessee's own.
   */
  tried?: Map<string, number>;
  /** Simulation mutation tests only. */
  rules?: Partial<ScopeQuorumRules>;
}

interface ScopeRt {
  scope: string;
  slots: LSlot[];
  role: "idle" | "confirming" | "held" | "releasing";
  term: number;
  /** Highest term bid for: never confirmed again after a lost bid or an ended term. */
  tried: number;
  /** Term secret of `term`, drawn when its confirm starts (docs/quorum.md, "Forged scope records"). */
  secret: TermSecret | null;
  ctl: AbortController | null;
  lastValidity: number;
  reason: ScopeRecord["reason"];
  timer: unknown;
}

/** Confirms, renews and releases the scope leases granted to this node on a quorum of stores. */
export class QuorumScopeLessee {
  readonly quorum: number;
  private readonly rules: ScopeQuorumRules;
  private readonly scopes = new Map<string, ScopeRt>();
  private readonly ac = new AbortController();
  private stopping = false;
  private waiters: (() => void)[] = [];

  private readonly stores: LeaseStore[];
  private readonly timing: Timing;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly log: Logger;
  private readonly emit: (e: LesseeEvent) => void;
  /** Who holds: the records name this node and region; the events also the cluster. */
  private readonly node: string;
  private readonly region: string;
  private readonly cluster: string;
  private readonly publish: ((e: ScopeEvent) => void) | undefined;
  private readonly regionalDeadline: () => number;
  /** Highest term bid for per scope, shared with this node's later lessees (`QuorumLesseeOptions.tried`). */
  private readonly triedTerms: Map<string, number> | undefined;

  constructor(opts: QuorumLesseeOptions) {
    ({ stores: this.stores, timing: this.timing, clock: this.clock, random: this.random, log: this.log, emit: this.emit } = opts);
    ({ node: this.node, region: this.region, cluster: this.cluster, publish: this.publish, regionalDeadline: this.regionalDeadline, tried: this.triedTerms } = opts);
    this.rules = scopeRules(opts.rules);
    this.quorum = this.rules.quorumSize(opts.stores.length);
    const now = opts.clock.now();
    for (const scope of opts.scopes) {
      const slots = opts.stores.map((st) => ({ ...newSlot(st, now), nextRenew: now, rec: null, bid: null, suspect: false }));
      this.scopes.set(scope, { scope, slots, role: "idle", term: 0, tried: opts.tried?.get(scope) ?? 0, secret: null, ctl: null, lastValidity: Number.NEGATIVE_INFINITY, reason: "initial", timer: null });
    }
  }

  start(): void {
    this.stores.forEach((_, i) => this.watch(i));
    for (const sc of this.scopes.values()) this.step(sc);
  }

  /** The current term of `scope`, with validity capped by the regional one. */
  term(scope: string): { token: number; validUntil: number; signal: AbortSignal } | null {
    const sc = this.scopes.get(scope);
    if (!sc || sc.role !== "held" || !sc.ctl) return null;
    const validUntil = this.validity(sc);
    if (this.clock.now() >= validUntil) return null;
    return { token: sc.term, validUntil, signal: sc.ctl.signal };
  }

  held(): string[] {
    return [...this.scopes.keys()].filter((s) => this.term(s) !== null);
  }

  /** Ends every term at once (synchronously), then releases on every store (best effort, bounded). */
  async stop(reason: ScopeEndReason = "stopped"): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const sc of this.scopes.values()) {
      if (sc.role === "held") this.end(sc, reason);
      else if (sc.role !== "releasing") sc.role = "releasing";
    }
    const give = new Promise<void>((resolve) => {
      const t = this.clock.setTimeout(resolve, 2 * this.timing.attemptMs);
      const check = () => ([...this.scopes.values()].every((s) => s.role === "idle") ? (this.clock.clearTimeout(t), resolve()) : this.waiters.push(check));
      this.waiters.push(check);
    });
    for (const sc of this.scopes.values()) this.step(sc);
    await give;
    this.ac.abort();
    for (const sc of this.scopes.values()) this.clock.clearTimeout(sc.timer);
  }

  private validity(sc: ScopeRt): number {
    return Math.min(validityOf(sc.slots.map((s) => s.deadline), this.quorum), this.regionalDeadline());
  }

  private mine(v: ScopeView | null, term: number, states: string[]): boolean {
    return (
      v !== null && v.state !== "vacant" && v.state !== "unknown" && states.includes(v.state) && v.token === term &&
      v.record.node === this.node && v.record.region === this.region && (v.record.stores ?? this.stores.length) === this.stores.length
    );
  }

  /** A grant of our term (a straggler the authority caught up) or our own unrecalled record of it. */
  private retakeable(v: ScopeView | null, term: number): boolean {
    if (this.mine(v, term, ["granted"])) return true;
    return this.mine(v, term, ["held"]) && !recordOf(v)!.recall;
  }

  /** A validity that ran out unnoticed (a stall) ends the term first, as `lapsed`: whatever ends it next is then a no-op. */
  private lapseIfDue(sc: ScopeRt): void {
    if (sc.role === "held" && this.clock.now() >= this.validity(sc)) this.end(sc, "lapsed");
  }

  /** The decision procedure of one scope. */
  private step(sc: ScopeRt): void {
    if (this.ac.signal.aborted) return;
    const now = this.clock.now();
    const q = this.quorum;
    this.lapseIfDue(sc);
    if (sc.role === "idle" && !this.stopping) {
      // Our own confirms of a term we no longer hold (a reply lost): give them back.
      for (const s of sc.slots) {
        const t = scopeTerm(s.sv);
        if (!s.busy && t > 0 && t <= sc.tried && this.mine(s.sv, t, ["held"])) this.write(sc, s, "release");
      }
      const counts = new Map<number, number>();
      for (const s of sc.slots) {
        const t = scopeTerm(s.sv);
        if (t > sc.tried && this.mine(s.sv, t, ["granted"])) counts.set(t, (counts.get(t) ?? 0) + 1);
      }
      const grants = [...counts].filter(([, n]) => n >= q).map(([t]) => t);
      if (grants.length && this.regionalDeadline() > now) {
        sc.term = Math.max(...grants);
        sc.tried = sc.term;
        this.triedTerms?.set(sc.scope, sc.term);
        sc.role = "confirming";
        const secret = randomBytes(16).toString("hex");
        sc.secret = { term: sc.term, secret, commit: commitOf(secret) };
        for (const s of sc.slots) s.bid = this.mine(s.sv, sc.term, ["granted"]) ? "pending" : null;
      }
    }
    if (sc.role === "confirming") {
      for (const s of sc.slots) {
        if (s.bid !== "pending" || s.busy) continue;
        if (this.mine(s.sv, sc.term, ["granted"])) this.write(sc, s, "confirm");
        else s.bid = "lost";
      }
      if (sc.slots.every((s) => s.bid !== "pending")) this.finishBid(sc, now);
    }
    if (sc.role === "releasing") {
      for (const s of sc.slots) if (!s.busy && (s.heldRev !== null || this.mine(s.sv, sc.term, ["held"]))) this.write(sc, s, "release");
      if (sc.slots.every((s) => !s.busy && s.heldRev === null)) sc.role = "idle";
    }
    for (const s of sc.slots) {
      if (s.busy || sc.role === "confirming" || sc.role === "releasing") continue;
      if (sc.role === "held" && s.heldRev !== null && !s.suspect) {
        if (now >= s.nextRenew) this.write(sc, s, "renew");
      } else if (sc.role === "held" && !s.suspect && this.retakeable(s.sv, sc.term)) {
        // A straggler the authority caught up, or our own write whose reply was lost.
        this.write(sc, s, "take");
      } else if (now >= s.nextRead || s.suspect) this.read(sc, s);
    }
    for (const w of this.waiters.splice(0)) w();
    this.schedule(sc, now);
  }

  private schedule(sc: ScopeRt, now: number): void {
    if (this.ac.signal.aborted) return;
    let at = sc.role === "held" ? this.validity(sc) : Number.POSITIVE_INFINITY;
    // Bids and releases move on their replies; reads and renewals on time.
    if (sc.role === "idle" || sc.role === "held") {
      for (const s of sc.slots) if (!s.busy) at = Math.min(at, sc.role === "held" && s.heldRev !== null && !s.suspect ? s.nextRenew : s.nextRead);
    }
    this.clock.clearTimeout(sc.timer);
    sc.timer = Number.isFinite(at) ? this.clock.setTimeout(() => this.step(sc), Math.max(0, at - now)) : null;
  }

  private finishBid(sc: ScopeRt, now: number): void {
    for (const s of sc.slots) s.bid = null;
    if (this.validity(sc) > now && !this.stopping) {
      sc.role = "held";
      sc.ctl = new AbortController();
      sc.lastValidity = this.validity(sc);
      sc.reason = sc.slots.find((s) => s.rec)?.rec?.reason ?? "initial";
      this.log.info({ scope: sc.scope, token: sc.term }, "scope lease held");
      this.emit({ type: "scope-held", scope: sc.scope, token: sc.term, validUntil: sc.lastValidity });
      this.publish?.({ v: WIRE_VERSION, kind: "held", cluster: this.cluster, scope: sc.scope, region: this.region, node: this.node, token: sc.term, reason: sc.reason, at: Date.now() });
      return;
    }
    // A minority, or confirmed too late: never act on it; give the confirms
    // back so the authority can grant again at once instead of after a lease.
    sc.role = "releasing";
  }

  /** Stops acting now: signal first, then listeners; the releases follow. */
  private end(sc: ScopeRt, reason: ScopeEndReason): void {
    if (sc.role !== "held") return;
    sc.ctl?.abort(new NotLeaderError(`scope ${sc.scope}: ${reason}`));
    sc.ctl = null;
    sc.role = "releasing";
    this.log.info({ scope: sc.scope, token: sc.term, reason }, "scope lease ended");
    this.emit({ type: "scope-ended", scope: sc.scope, token: sc.term, reason });
    if (reason === "lapsed") this.publish?.({ v: WIRE_VERSION, kind: "lapsed", cluster: this.cluster, scope: sc.scope, region: this.region, node: this.node, token: sc.term, at: Date.now() });
  }

  private read(sc: ScopeRt, s: LSlot): void {
    s.busy = true;
    const d = deadlineSignal(this.ac.signal, this.timing.attemptMs, this.clock);
    s.store.get(scopeKey(sc.scope), { signal: d.signal }).then(
      (entry) => this.done(sc, s, d.clear, () => this.onRead(sc, s, entry)),
      (err) => this.done(sc, s, d.clear, () => {
        this.log.debug({ scope: sc.scope, store: s.store.name, code: (err as { code?: string } | null)?.code, err: (err as Error)?.message }, "scope read failed");
        this.onFail(s);
      }),
    );
  }

  private onRead(sc: ScopeRt, s: LSlot, entry: StoreEntry | null): void {
    const now = this.clock.now();
    noteRead(s, entry, now, this.timing);
    s.nextRead = now + this.timing.renewMs;
    s.suspect = false;
    const v = s.sv!;
    if (sc.role !== "held") return;
    if (this.mine(v, sc.term, ["held"]) && recordOf(v)!.recall) {
      // The authority wants it back: stop acting, then release (over the recall's revision).
      s.heldRev = v.revision;
      s.rec = recordOf(v);
      this.lapseIfDue(sc);
      this.end(sc, "recalled");
      return;
    }
    if (s.heldRev === null || v.revision === s.heldRev) return;
    // Our own write whose reply we lost (or the store went back to an earlier
    // one): still ours; the deadline stays that of the last confirmed send.
    if (this.mine(v, sc.term, ["held"])) {
      s.heldRev = v.revision;
      return;
    }
    this.lose(sc, s);
  }

  private onFail(s: LSlot): void {
    noteFailure(s);
    s.suspect = false;
    s.nextRead = this.clock.now() + this.timing.retryMs * (0.5 + this.random());
  }

  /** Someone else wrote where we held: this store no longer backs us. */
  private lose(sc: ScopeRt, s: LSlot): void {
    this.lapseIfDue(sc);
    dropHold(s);
    if (sc.role === "held" && this.clock.now() >= this.validity(sc)) this.end(sc, "superseded");
  }

  private write(sc: ScopeRt, s: LSlot, kind: Kind): void {
    const rec = lesseeRecord(kind, s, sc.secret, this.timing, this.stores.length);
    if (!rec) return; // never: every held write is of the term whose confirm drew its secret
    const expected = s.heldRev !== null && (kind === "renew" || kind === "release") ? s.heldRev : s.sv!.revision;
    const now = this.clock.now();
    const ms = kind === "renew" ? attemptTimeoutMs(this.timing, this.validity(sc) - now) : this.timing.attemptMs;
    s.busy = true;
    const d = deadlineSignal(this.ac.signal, ms, this.clock);
    s.store.update(scopeKey(sc.scope), encodeScope(rec), expected, { signal: d.signal }).then(
      (rev) => this.done(sc, s, d.clear, () => this.onWritten(sc, s, kind, rec, rev, now)),
      (err) => this.done(sc, s, d.clear, () => this.onWriteFailed(sc, s, kind, err)),
    );
  }

  private onWritten(sc: ScopeRt, s: LSlot, kind: Kind, rec: ScopeRecord, rev: number, sendAt: number): void {
    const now = this.clock.now();
    setView(s, scopeViewOf({ key: scopeKey(sc.scope), revision: rev, operation: "put", value: encodeScope(rec) }));
    s.observedSince = now;
    s.rec = rec;
    if (kind === "release") {
      dropHold(s);
      if (sc.term === rec.token) this.publish?.({ v: WIRE_VERSION, kind: "released", cluster: this.cluster, scope: sc.scope, region: this.region, node: this.node, token: rec.token, at: Date.now() });
      return;
    }
    s.heldRev = rev;
    s.deadline = this.rules.storeDeadline(sendAt, now, this.timing);
    s.nextRenew = sendAt + this.timing.renewMs * (1 - 0.1 * this.random());
    if (kind === "confirm") s.bid = "won";
    if (sc.role !== "held") return;
    const v = this.validity(sc);
    if (v > sc.lastValidity) {
      sc.lastValidity = v;
      this.emit({ type: "scope-renewed", scope: sc.scope, token: sc.term, validUntil: v });
    }
  }

  private onWriteFailed(sc: ScopeRt, s: LSlot, kind: Kind, err: unknown): void {
    this.log.debug({ scope: sc.scope, store: s.store.name, kind, code: (err as { code?: string } | null)?.code, err: (err as Error)?.message }, "scope write failed");
    if (kind === "confirm") s.bid = "lost";
    // Best effort: a release that did not land leaves a record the authority takes after a lease.
    if (kind === "release") dropHold(s);
    if (isConflict(err)) {
      // A real answer: someone wrote. Read before deciding (a recall, a lost reply of ours, or a successor).
      s.suspect = s.heldRev !== null;
      setView(s, null);
      s.nextRead = this.clock.now();
      return;
    }
    // Outcome unknown: a renewal keeps the deadline of its last confirmed send.
    if (kind === "renew") s.nextRenew = this.clock.now() + Math.max(1, Math.min(this.timing.retryMs * (0.5 + this.random()), (this.validity(sc) - this.clock.now()) / 4));
    this.onFail(s);
  }

  private done(sc: ScopeRt, s: LSlot, clear: () => void, fn: () => void): void {
    settle(s, clear, this.ac.signal, fn, () => this.step(sc));
  }

  /** One watch per store over every scope key: an entry is only a hint to read. */
  private watch(i: number): void {
    watchScopeKeys(this.stores[i]!, this.ac.signal, this.clock, this.timing.retryMs * 4, (scope, e) => {
      const sc = this.scopes.get(scope);
      const s = sc?.slots[i];
      if (sc && s && e.revision !== s.sv?.revision && !s.busy) {
        s.nextRead = this.clock.now();
        this.step(sc);
      }
    });
  }
}
