/**
 * The lease authority of scope leases held on a majority of N independent
 * stores (docs/quorum.md, "Scope leases over a quorum"). Runs on every node
 * and writes on the global leader only, with the placement rules
 * (placement.ts: targets, pins, failback hysteresis) and region liveness
 * (region-watch.ts). Per scope and store it keeps what the quorum rules need
 * (quorum-scope.ts) and, after every reply and each round:
 *
 * - **new grant**: when a majority of stores is takeable for the next term
 *   (each by the take rule: released and settled for a lease, or watched
 *   unchanged for a full lease since its last failure), writes a grant of
 *   term T = 1 + every term seen (on at least that majority) onto exactly
 *   those stores, by CAS on the revision read there;
 * - **catch-up**: the highest-term grant not given back is written onto any
 *   other store that becomes takeable with a lower term, so its lessee ends
 *   up holding every reachable store (and the term stays on N − q + 1);
 * - **recall** (failback, manual move): on every store showing the held,
 *   unrecalled term; the "unchanged since" of each store is kept;
 * - it watches from the node's start, global leader or not, and decides and
 *   writes only while `globalToken()` is set (node-machine.ts): a node
 *   that becomes global leader acts on a lease already watched; an
 *   authority that just started leaves held records alone for a lease;
 * - a release is taken at once only when it reveals the secret committed on
 *   the held records of the term watched on that store (`judgeScope`,
 *   docs/quorum.md, "Forged scope records"); any other is waited out.
 */
import { randomBytes } from "node:crypto";
import type { Timing } from "../election/timing.js";
import type { LeaseStore, StoreEntry } from "../lease/store.js";
import type { Logger } from "../observability/logger.js";
import { WIRE_VERSION, type ScopeEvent } from "../wire/events.js";
import { deadlineSignal } from "../util/timers.js";
import { NotLeaderError, RefusedError, throwIfAborted } from "../errors.js";
import type { MoveResult, ScopeRegion } from "./types.js";
import { chooseTarget, type Target } from "./placement.js";
import { PendingMoves } from "./pending-moves.js";
import { scopeViewOf } from "./record.js";
import { RegionWatch } from "./region-watch.js";
import { forget, isConflict, judgeScope, latestAssignment, newSlot, noteFailure, noteRead, scopeRules, scopeTerm, setView, settle, watchScopeKeys, type ScopeQuorumRules, type ScopeSlot } from "./quorum-scope.js";
import { SCOPE_RECORD_VERSION, encodeScope, type ScopeRecord } from "../wire/scope-record.js";
import { scopeKey } from "../wire/names.js";
import type { Clock } from "../util/clock.js";

export interface QuorumAuthorityOptions {
  stores: LeaseStore[];
  /** A region's regional lease store, or its stores when it elects on a quorum (see RegionWatch). */
  regionStore: (region: string) => Promise<LeaseStore | LeaseStore[]>;
  /** How many stores each region elects on (default 1). */
  storesPerRegion?: (region: string) => number;
  regionalKey: string;
  regions: ScopeRegion[];
  timing: Timing;
  failbackAfterMs: number;
  cluster: string;
  node: string;
  /** The current global token (null when no longer global leader): nothing is written without it. */
  globalToken: () => number | null;
  clock: Clock;
  random: () => number;
  log: Logger;
  publish?: (e: ScopeEvent) => void;
  rules?: Partial<ScopeQuorumRules>;
}

interface ScopeRt {
  spec: ScopeRegion;
  slots: ScopeSlot[];
  highestSeen: number;
  /** Term of the grant this authority last published as landed on a majority. */
  announced: number;
  timer: unknown;
}

export class QuorumScopeAuthority {
  readonly quorum: number;
  /** Scope moves between regions, for metrics and logs. */
  moves = 0;
  private readonly rules: ScopeQuorumRules;
  private readonly regions: RegionWatch;
  private readonly scopes = new Map<string, ScopeRt>();
  private readonly pending: PendingMoves;
  private readonly lastMove = new Map<string, number>();
  private readonly ac = new AbortController();
  /** Identifies this authority's incarnation in `grantedBy` (informational). */
  private readonly self: string;

  private readonly stores: LeaseStore[];
  /** Every region, with its scope's failover order. */
  private readonly regionSpecs: ScopeRegion[];
  private readonly timing: Timing;
  private readonly failbackAfterMs: number;
  /** The current global token (null when no longer global leader): nothing is written without it. */
  private readonly globalToken: () => number | null;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly log: Logger;
  /** Where `granted` and `lapsed` go, and as whom (cluster, node). */
  private readonly publish: ((e: ScopeEvent) => void) | undefined;
  private readonly cluster: string;
  private readonly node: string;

  constructor(opts: QuorumAuthorityOptions) {
    ({ stores: this.stores, regions: this.regionSpecs, timing: this.timing, failbackAfterMs: this.failbackAfterMs, globalToken: this.globalToken } = opts);
    ({ clock: this.clock, random: this.random, log: this.log, publish: this.publish, cluster: this.cluster, node: this.node } = opts);
    this.rules = scopeRules(opts.rules);
    this.quorum = this.rules.quorumSize(opts.stores.length);
    this.regions = new RegionWatch({
      regions: opts.regions,
      regionStore: opts.regionStore,
      regionalKey: opts.regionalKey,
      timing: opts.timing,
      failbackAfterMs: opts.failbackAfterMs,
      clock: opts.clock,
      ...(opts.storesPerRegion ? { storesPerRegion: opts.storesPerRegion } : {}),
    });
    this.self = `${opts.node}~${randomBytes(2).toString("hex")}`;
    this.pending = new PendingMoves(opts.log);
  }

  start(): void {
    this.regions.start();
    const now = this.clock.now();
    for (const spec of this.regionSpecs) {
      const sc: ScopeRt = { spec, slots: this.stores.map((s) => newSlot(s, now)), highestSeen: 0, announced: 0, timer: null };
      this.scopes.set(spec.name, sc);
      this.step(sc);
    }
    this.stores.forEach((_, i) => this.watch(i));
  }

  stop(): void {
    this.ac.abort();
    this.regions.stop();
    for (const sc of this.scopes.values()) this.clock.clearTimeout(sc.timer);
    this.pending.abandonAll("no longer the lease authority");
  }

  /**
   * This node just became global leader: decide now, on what was watched
   * before (the authority watches from the node's start, so a lost region's
   * scope may already be takeable; node-machine.ts).
   */
  empower(): void {
    const now = this.clock.now();
    for (const sc of this.scopes.values()) {
      // Observers read on rounds only (below): read every store now.
      for (const s of sc.slots) s.nextRead = Math.min(s.nextRead, now);
      this.step(sc);
    }
  }

  /** No longer global leader: nothing more is written (`globalToken` is null), and pending moves fail. */
  disempower(): void {
    this.pending.abandonAll("no longer the lease authority");
  }

  live(region: string): boolean {
    return this.regions.live(region);
  }

  /**
   * Asks for `scope` to move to `to` (recall, then grant). Resolves once held
   * there. `signal` ends the wait (AbortedError); a move already asked for
   * goes on, like a request whose answer nobody reads.
   */
  async move(scope: string, to: string, reason: "failback" | "manual", signal?: AbortSignal): Promise<MoveResult> {
    throwIfAborted(signal);
    const sc = this.scopes.get(scope);
    if (!sc) throw new RefusedError(`unknown scope ${scope}`);
    if (!this.regionSpecs.some((r) => r.name === to)) throw new RefusedError(`unknown region ${to}`);
    const authority = () => !this.ac.signal.aborted && this.globalToken() !== null;
    while (!this.live(to) && !this.regions.presumedDown(to) && authority()) {
      await new Promise((r) => this.clock.setTimeout(() => r(undefined), this.regions.roundMs()));
      throwIfAborted(signal);
    }
    // The role may have gone while waiting: a move must not wait for a later term to be carried out.
    if (!authority()) throw new NotLeaderError("no longer the lease authority");
    if (!this.live(to)) throw new RefusedError(`region ${to} has no live regional leader`);
    const arrived = this.pending.wait(scope, to, reason, signal);
    this.step(sc);
    return arrived;
  }

  private takeable(s: ScopeSlot, term: number, now: number): boolean {
    if (s.busy || s.view === null || !this.rules.termAllows(scopeTerm(s.sv), term, true)) return false;
    const at = this.rules.takeableAt(s, this.self, term, true, this.timing);
    return at !== null && at <= now;
  }

  /** The decision procedure of one scope: runs after every reply and each round. */
  private step(sc: ScopeRt): void {
    if (this.ac.signal.aborted) return;
    const now = this.clock.now();
    for (const s of sc.slots) if (!s.busy && now >= s.nextRead) this.read(sc, s);
    if (this.globalToken() !== null) this.decide(sc, now);
    this.schedule(sc, now);
  }

  private decide(sc: ScopeRt, now: number): void {
    const scope = sc.spec.name;
    const cur = latestAssignment(sc.slots);
    const next = this.rules.nextTerm(sc.slots.map((s) => s.view), sc.highestSeen);
    const grantOn = this.rules.grantable(sc.slots.map((s) => this.takeable(s, next, now)), this.quorum);
    if (grantOn) {
      // Released, or not renewed on a majority for a full lease as watched here.
      const prev = cur?.rec ?? null;
      const stale = !!cur && !cur.given;
      const t = this.target(sc, prev?.region ?? null, stale ? prev!.node : null, !!prev?.pinned);
      if (!t) return;
      if (stale && cur!.held > 0) this.publish?.({ v: WIRE_VERSION, kind: "lapsed", cluster: this.cluster, scope, region: prev!.region, node: prev!.node, token: cur!.term, at: Date.now() });
      const rec = this.grantRecord(sc, t, next, prev ? { region: prev.region, node: prev.node, token: cur!.term } : null);
      if (!rec) return;
      sc.highestSeen = next;
      if (!prev || prev.region !== t.region) {
        this.moves++;
        this.lastMove.set(scope, now);
      }
      this.log.info({ scope, term: next, to: `${t.region}/${rec.node}`, reason: t.reason }, "scope grant");
      sc.slots.forEach((s, i) => grantOn[i] && this.write(sc, s, rec, false));
      return;
    }
    if (!cur || cur.given) return;
    // A pending move, or failback, of a scope held here on a majority: recall it.
    const p0 = this.pending.get(scope);
    if (p0 && !this.live(p0.to)) this.pending.abandon(scope, `region ${p0.to} has no live leader`);
    const p = this.pending.get(scope);
    if (cur.held >= this.quorum && p && p.to === cur.rec.region && (p.reason !== "manual" || p.to === scope || cur.rec.pinned)) {
      this.pending.arrived({ scope, region: cur.rec.region, node: cur.rec.node, token: cur.term });
      return;
    }
    const wantBack =
      !cur.rec.pinned && cur.rec.region !== scope && this.live(scope) && this.regions.healthyFor(scope) >= this.failbackAfterMs &&
      now - (this.lastMove.get(scope) ?? Number.NEGATIVE_INFINITY) >= this.failbackAfterMs;
    if (cur.held + cur.recalled >= this.quorum && (p || wantBack)) {
      if (!p) this.pending.failback(scope);
      const recall = this.pending.get(scope)!.reason;
      for (const s of sc.slots) {
        const v = s.sv;
        if (!s.busy && v?.state === "held" && v.token === cur.term && !v.record.recall) this.write(sc, s, { ...v.record, recall }, true);
      }
      return;
    }
    // Catch-up: a lease held on a majority, onto stores that missed it. Only
    // then: a partial or ended grant is never completed (its term must not be
    // confirmed by anyone again; it goes stale and a new term replaces it).
    if (cur.recalled > 0 || cur.held < this.quorum) return;
    for (const s of sc.slots) {
      if (scopeTerm(s.sv) >= cur.term || !this.takeable(s, cur.term, now)) continue;
      const rec: ScopeRecord = { ...cur.rec, state: "granted", token: cur.term, leaseMs: this.timing.leaseMs, renewMs: this.timing.renewMs, stores: this.stores.length, renewedAt: Date.now() };
      // A grant carries no term secret: the lessee's take there commits to its own.
      delete rec.recall;
      delete rec.commit;
      delete rec.reveal;
      this.write(sc, s, rec, false);
    }
  }

  private grantRecord(sc: ScopeRt, t: Target, term: number, from: ScopeRecord["from"] | null): ScopeRecord | null {
    const token = this.globalToken();
    const node = this.regions.leader(t.region);
    if (token === null || node === null) return null;
    return {
      v: SCOPE_RECORD_VERSION, scope: sc.spec.name, home: sc.spec.name, region: t.region, node, state: "granted", token: term,
      leaseMs: this.timing.leaseMs, renewMs: this.timing.renewMs, reason: t.reason, stores: this.stores.length,
      grantedBy: { node: this.node, token }, grantedAt: Date.now(), renewedAt: Date.now(),
      ...(from ? { from } : {}),
      ...(t.pinned ? { pinned: "manual" as const } : {}),
    };
  }

  /** Where the scope goes (placement.ts); a pending move comes first. */
  private target(sc: ScopeRt, current: string | null, exclude: string | null, pinned: boolean): Target | null {
    const scope = sc.spec.name;
    const p = this.pending.get(scope);
    if (p && this.live(p.to) && this.regions.leader(p.to) !== exclude) return { region: p.to, reason: p.reason, pinned: p.reason === "manual" && p.to !== scope };
    if (p) this.pending.abandon(scope, `region ${p.to} has no live leader`);
    return chooseTarget(this.regions, sc.spec, current, exclude, pinned);
  }

  private schedule(sc: ScopeRt, now: number): void {
    let at = now + this.regions.roundMs();
    for (const s of sc.slots) if (!s.busy) at = Math.min(at, Math.max(now + 1, s.nextRead));
    this.clock.clearTimeout(sc.timer);
    sc.timer = this.clock.setTimeout(() => this.step(sc), at - now);
  }

  private read(sc: ScopeRt, s: ScopeSlot): void {
    s.busy = true;
    const d = deadlineSignal(this.ac.signal, this.timing.attemptMs, this.clock);
    s.store.get(scopeKey(sc.spec.name), { signal: d.signal }).then(
      (e) => this.done(sc, s, d.clear, () => this.onRead(sc, s, e)),
      () => this.done(sc, s, d.clear, () => this.onFail(s)),
    );
  }

  private onRead(sc: ScopeRt, s: ScopeSlot, entry: StoreEntry | null): void {
    const now = this.clock.now();
    noteRead(s, entry, now, this.timing);
    s.nextRead = now + this.regions.roundMs();
    sc.highestSeen = Math.max(sc.highestSeen, scopeTerm(s.sv));
    this.announce(sc);
  }

  private onFail(s: ScopeSlot): void {
    noteFailure(s);
    s.nextRead = this.clock.now() + this.timing.retryMs * (0.5 + this.random());
  }

  /**
   * CAS on the revision read. A recall keeps the store's "unchanged since":
   * the lessee cannot write after it except to release, so its last write
   * was seen no later than that. Our own write is judged like a read of it:
   * a grant (over a takeable record) starts a term trusted at once, whose
   * lessee's confirm sets the commitment; a recall copies the held record,
   * commitment included, so the release that answers it is attributed and
   * the move goes on at once.
   */
  private write(sc: ScopeRt, s: ScopeSlot, rec: ScopeRecord, recall: boolean): void {
    if (this.globalToken() === null || !s.sv || s.busy) return;
    const value = encodeScope(rec);
    const key = scopeKey(sc.spec.name);
    s.busy = true;
    const d = deadlineSignal(this.ac.signal, this.timing.attemptMs, this.clock);
    const since = s.observedSince;
    const call = s.sv.state === "vacant" ? s.store.create(key, value, { signal: d.signal }) : s.store.update(key, value, s.sv.revision, { signal: d.signal });
    call.then(
      (rev) =>
        this.done(sc, s, d.clear, () => {
          const sv = scopeViewOf({ key, revision: rev, operation: "put", value });
          judgeScope(s, sv, this.clock.now(), this.timing);
          setView(s, sv);
          s.observedSince = recall ? since : this.clock.now();
          this.announce(sc);
        }),
      (err) =>
        this.done(sc, s, d.clear, () => {
          if (isConflict(err)) {
            // Someone else wrote. Over a grant: a lost race, nothing read next
            // is taken at once. Over a recall it is mostly the lessee renewing:
            // the next read is judged against the held term watched so far
            // (a revision missed in between, as between any two reads), so
            // its release stays attributable; read before anything else.
            if (!recall) forget(s);
            s.nextRead = this.clock.now();
          } else this.onFail(s);
        }),
    );
  }

  /** Publishes `granted` once the latest grant shows on a majority, and resolves a finished move. */
  private announce(sc: ScopeRt): void {
    // Every node watches; only the global leader speaks for the authority.
    if (this.globalToken() === null) return;
    const cur = latestAssignment(sc.slots);
    if (!cur || cur.term <= sc.announced) return;
    const on = sc.slots.filter((s) => scopeTerm(s.sv) === cur.term).length;
    if (on < this.quorum) return;
    sc.announced = cur.term;
    const r = cur.rec;
    this.publish?.({ v: WIRE_VERSION, kind: "granted", cluster: this.cluster, scope: sc.spec.name, region: r.region, node: r.node, token: cur.term, reason: r.reason, from: r.from ?? null, at: Date.now() });
  }

  /**
   * A watch per store, as a hint to read at once (while global leader): a
   * lessee's release after a recall is then granted on in milliseconds
   * rather than at the next round.
   * Reads stay what the rules use; a missed or late entry costs one round.
   */
  private watch(i: number): void {
    watchScopeKeys(this.stores[i]!, this.ac.signal, this.clock, this.timing.retryMs * 4, (scope, e) => {
      const sc = this.scopes.get(scope);
      const s = sc?.slots[i];
      // Hints only while global leader: every node runs an authority, and
      // a read by each of them after every renewal would cost the stores for nothing.
      if (!sc || !s || e.revision === s.sv?.revision || this.globalToken() === null) return;
      s.nextRead = this.clock.now();
      if (!s.busy) this.step(sc);
    });
  }

  private done(sc: ScopeRt, s: ScopeSlot, clear: () => void, fn: () => void): void {
    settle(s, clear, this.ac.signal, fn, () => this.step(sc));
  }
}
