/**
 * The lessee side of region-scoped leases. It runs on a node only while that
 * node is its region's leader (it is invoked under `regionalLeader` in the
 * actor tree, so losing the region stops it at once). It confirms grants made
 * to it, renews them by CAS itself — so a region cut off from the global tier
 * fences its scopes within one lease even while its regional election goes
 * on locally — and gives them back when recalled or when it stops.
 *
 * Validity follows the election rules: it runs from the *send* of the
 * lessee's own successful confirm/renew write, lease × (1 − drift) − margin,
 * and is further capped by the regional validity.
 */
import { attemptTimeoutMs, type Timing } from "../election/timing.js";
import { deadlineSignal } from "../util/timers.js";
import type { LeaseStore, StoreEntry } from "../lease/store.js";
import type { Logger } from "../observability/logger.js";
import type { ScopeEvent } from "../wire/events.js";
import { SCOPE_FILTER, encodeScope, scopeKey, scopeOfKey, scopeViewOf, type ScopeRecord } from "./record.js";

/** Timers and time, injectable for simulation. */
export interface ScopeClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(t: unknown): void;
}

/** Why a lessee stopped holding a scope. */
export type ScopeEndReason = "lapsed" | "recalled" | "superseded" | "region-lost" | "stopped";

export type LesseeEvent =
  | { type: "scope-held"; scope: string; token: number; validUntil: number }
  | { type: "scope-renewed"; scope: string; token: number; validUntil: number }
  | { type: "scope-ended"; scope: string; token: number; reason: ScopeEndReason };

export interface LesseeOptions {
  store: LeaseStore;
  /** Every scope name (one per region). */
  scopes: string[];
  region: string;
  node: string;
  cluster: string;
  timing: Timing;
  clock: ScopeClock;
  /** The regional validity deadline right now (0 when not regional leader). */
  regionalDeadline: () => number;
  log: Logger;
  emit: (e: LesseeEvent) => void;
  publish?: (e: ScopeEvent) => void;
}

interface Term {
  scope: string;
  token: number;
  revision: number;
  record: ScopeRecord;
  deadline: number;
  sendAt: number;
  unconfirmedSince: number | null;
  timer: unknown;
  deadlineTimer: unknown;
  controller: AbortController;
  busy: boolean;
}

/** Confirms, renews and releases the scope leases granted to this node. */
export class ScopeLessee {
  private readonly terms = new Map<string, Term>();
  private readonly ac = new AbortController();
  private reconcileTimer: unknown;
  private stopped = false;

  constructor(private readonly o: LesseeOptions) {}

  start(): void {
    void this.watchLoop();
    this.scheduleReconcile(0);
  }

  /** The current term of `scope`, with validity capped by the regional one. */
  term(scope: string): { token: number; validUntil: number; signal: AbortSignal } | null {
    const t = this.terms.get(scope);
    if (!t) return null;
    const validUntil = Math.min(t.deadline, this.o.regionalDeadline());
    if (this.o.clock.now() >= validUntil) return null;
    return { token: t.token, validUntil, signal: t.controller.signal };
  }

  /** Scopes currently held. */
  held(): string[] {
    return [...this.terms.keys()].filter((s) => this.term(s) !== null);
  }

  /** Ends every term at once (synchronously), then releases them in the store. */
  async stop(reason: ScopeEndReason = "stopped"): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.ac.abort();
    this.o.clock.clearTimeout(this.reconcileTimer);
    const ending = [...this.terms.values()];
    for (const t of ending) this.end(t, reason);
    await Promise.all(ending.map((t) => this.release(t)));
  }

  private async watchLoop(): Promise<void> {
    while (!this.ac.signal.aborted) {
      try {
        for await (const e of this.o.store.watch(SCOPE_FILTER, { signal: this.ac.signal })) this.onEntry(e);
      } catch (err) {
        if (!this.ac.signal.aborted) this.o.log.debug({ err: (err as Error).message }, "scope watch failed");
      }
      if (!this.ac.signal.aborted) await new Promise((r) => this.o.clock.setTimeout(() => r(undefined), this.o.timing.retryMs * 4));
    }
  }

  /** A watch may miss updates: re-read every scope key each renew interval. */
  private scheduleReconcile(ms: number): void {
    this.reconcileTimer = this.o.clock.setTimeout(async () => {
      if (this.stopped) return;
      try {
        for (const scope of this.o.scopes) {
          const key = scopeKey(scope);
          this.onEntry(await this.o.store.get(key, { signal: this.ac.signal }), key);
        }
      } catch {
        /* next round */
      }
      if (!this.stopped) this.scheduleReconcile(this.o.timing.renewMs);
    }, ms);
  }

  private onEntry(entry: StoreEntry | null, key?: string): void {
    if (this.stopped || (!entry && !key)) return;
    const scope = scopeOfKey(entry?.key ?? key!);
    const v = scopeViewOf(entry);
    const t = this.terms.get(scope);
    if (t) {
      if (v.revision <= t.revision) return;
      const mine = v.state === "held" && v.token === t.token && v.record.node === this.o.node && !v.record.recall;
      const recall = v.state !== "vacant" && v.state !== "unknown" && v.token === t.token && !!v.record.recall;
      // A write of ours in flight: its outcome (or the CAS conflict) settles
      // what it may be. Anything it cannot be ends the term now (issue 14).
      if (t.busy && (mine || recall)) return;
      if (mine) {
        // One of our own writes whose reply we lost landed — or a copy of our
        // record (every field is public), maybe written before our send and
        // seen by the authority then. Extend nothing: renew over it at once.
        if (t.unconfirmedSince !== null) {
          t.revision = v.revision;
          this.o.clock.clearTimeout(t.timer);
          t.timer = this.o.clock.setTimeout(() => void this.renew(t), 0);
        }
        return;
      }
      if (recall) {
        this.end(t, "recalled");
        void this.release({ ...t, revision: v.revision, record: v.record });
        return;
      }
      this.end(t, "superseded");
      return;
    }
    if (v.state !== "granted" || v.record.node !== this.o.node || v.record.region !== this.o.region) return;
    // The token of a grant is its own revision: the authority writes 0. A
    // grant naming any other token was not written by the protocol, and
    // confirming it would hand that number to every FencingGuard downstream.
    if (v.record.token !== 0) {
      this.o.log.warn({ scope, revision: v.revision, token: v.record.token }, "scope grant with a foreign token rejected");
      return;
    }
    void this.confirm(scope, v.revision, v.token, v.record);
  }

  /** First write of the lessee on a grant: only from here on may it act. */
  private async confirm(scope: string, revision: number, token: number, grant: ScopeRecord): Promise<void> {
    if (this.terms.has(scope) || this.o.regionalDeadline() <= this.o.clock.now()) return;
    // Our own lease in the record: the authority waits max(its lease, this)
    // before a re-grant, so our validity holds even if our configs differ.
    const record: ScopeRecord = { ...grant, state: "held", token, leaseMs: this.o.timing.leaseMs, renewMs: this.o.timing.renewMs, renewedAt: Date.now() };
    const sendAt = this.o.clock.now();
    const t: Term = {
      scope,
      token,
      revision,
      record,
      deadline: Number.NEGATIVE_INFINITY,
      sendAt,
      unconfirmedSince: sendAt,
      timer: undefined,
      deadlineTimer: undefined,
      controller: new AbortController(),
      busy: true,
    };
    this.terms.set(scope, t);
    // Like an acquiring write: a confirm heard after attemptMs still leaves room for a renewal retry.
    const d = deadlineSignal(this.ac.signal, this.o.timing.attemptMs, this.o.clock);
    try {
      const rev = await this.o.store.update(scopeKey(scope), encodeScope(record), revision, { signal: d.signal });
      t.busy = false;
      if (this.stopped || this.terms.get(scope) !== t) return;
      if (Math.min(sendAt + this.o.timing.validForMs, this.o.regionalDeadline()) <= this.o.clock.now()) {
        // Confirmed, but the reply came after the term would already have ended: never act on it.
        this.terms.delete(scope);
        void this.release({ ...t, revision: rev });
        return;
      }
      this.renewed(t, rev, sendAt, record);
      this.o.log.info({ scope, token }, "scope lease held");
      this.o.emit({ type: "scope-held", scope, token, validUntil: Math.min(t.deadline, this.o.regionalDeadline()) });
      this.o.publish?.({ v: 1, kind: "held", cluster: this.o.cluster, scope, region: this.o.region, node: this.o.node, token, reason: grant.reason, at: Date.now() });
    } catch (err) {
      // Lost the race (recalled/regranted meanwhile) or the store is down: not ours.
      if (this.terms.get(scope) === t) this.terms.delete(scope);
      this.o.log.debug({ scope, err: (err as Error).message }, "scope confirm failed");
    } finally {
      d.clear();
    }
  }

  private renewed(t: Term, revision: number, sentAt: number, record: ScopeRecord): void {
    t.revision = revision;
    t.record = record;
    t.deadline = sentAt + this.o.timing.validForMs;
    t.unconfirmedSince = null;
    this.o.clock.clearTimeout(t.deadlineTimer);
    t.deadlineTimer = this.o.clock.setTimeout(() => this.lapse(t), Math.max(0, t.deadline - this.o.clock.now()));
    this.o.clock.clearTimeout(t.timer);
    t.timer = this.o.clock.setTimeout(() => void this.renew(t), Math.max(0, sentAt + this.o.timing.renewMs - this.o.clock.now()));
  }

  private async renew(t: Term): Promise<void> {
    if (this.terms.get(t.scope) !== t || this.stopped) return;
    const record: ScopeRecord = { ...t.record, state: "held", renewedAt: Date.now() };
    const sendAt = this.o.clock.now();
    t.unconfirmedSince ??= sendAt;
    t.busy = true;
    // Every attempt has a deadline that leaves room for another before the
    // validity ends: one lost request or ack must not lapse the scope.
    const d = deadlineSignal(this.ac.signal, attemptTimeoutMs(this.o.timing, t.deadline - sendAt), this.o.clock);
    try {
      const rev = await this.o.store.update(scopeKey(t.scope), encodeScope(record), t.revision, { signal: d.signal });
      t.busy = false;
      if (this.terms.get(t.scope) !== t) return;
      this.renewed(t, rev, sendAt, record);
      this.o.emit({ type: "scope-renewed", scope: t.scope, token: t.token, validUntil: Math.min(t.deadline, this.o.regionalDeadline()) });
    } catch (err) {
      t.busy = false;
      if (this.terms.get(t.scope) !== t) return;
      if ((err as { code?: string }).code === "CONFLICT") {
        // Someone wrote: find out who (recall, supersession, or our own lost reply).
        const revision = t.revision;
        try {
          this.onEntry(await this.o.store.get(scopeKey(t.scope), { signal: this.ac.signal }), scopeKey(t.scope));
        } catch {
          /* retried below */
        }
        // Ended, or a newer record that may be ours: its renewal is already scheduled.
        if (this.terms.get(t.scope) !== t || t.revision !== revision) return;
      }
      const wait = Math.max(1, Math.min(this.o.timing.retryMs, (t.deadline - this.o.clock.now()) / 4));
      t.timer = this.o.clock.setTimeout(() => void this.renew(t), wait);
    } finally {
      d.clear();
    }
  }

  private lapse(t: Term): void {
    if (this.terms.get(t.scope) !== t) return;
    this.end(t, "lapsed");
    void this.release(t);
  }

  /** Stops acting on `t` now: signal first, then listeners. */
  private end(t: Term, reason: ScopeEndReason): void {
    if (this.terms.get(t.scope) !== t) return;
    this.terms.delete(t.scope);
    this.o.clock.clearTimeout(t.timer);
    this.o.clock.clearTimeout(t.deadlineTimer);
    t.controller.abort(new Error(`scope ${t.scope}: ${reason}`));
    this.o.log.info({ scope: t.scope, token: t.token, reason }, "scope lease ended");
    this.o.emit({ type: "scope-ended", scope: t.scope, token: t.token, reason });
    if (reason === "lapsed") {
      this.o.publish?.({ v: 1, kind: "lapsed", cluster: this.o.cluster, scope: t.scope, region: this.o.region, node: this.o.node, token: t.token, at: Date.now() });
    }
  }

  /** Best-effort CAS release after the term has ended, so the authority can re-grant at once. */
  private async release(t: Term): Promise<void> {
    const record: ScopeRecord = { ...t.record, state: "released", leaseMs: this.o.timing.leaseMs, renewMs: this.o.timing.renewMs, renewedAt: Date.now() };
    delete record.recall;
    try {
      await this.o.store.update(scopeKey(t.scope), encodeScope(record), t.revision, { signal: AbortSignal.timeout(2_000) });
      this.o.publish?.({ v: 1, kind: "released", cluster: this.o.cluster, scope: t.scope, region: this.o.region, node: this.o.node, token: t.token, at: Date.now() });
    } catch (err) {
      this.o.log.debug({ scope: t.scope, err: (err as Error).message }, "scope release failed (the authority will wait a lease)");
    }
  }
}
