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
 * functions (`quorum-rules.ts`) and one reactive `step()` (`quorum-candidacy.ts`)
 * runs after every reply, watch hint and timer, on an injectable clock, so
 * it is deterministic under `SimulatedClock` and the simulation scheduler.
 * This file is the public face: options, the API, the listeners.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { ConfigError, StoppedError, AbortedError } from "../errors.js";
import type { LeaseStore } from "../lease/store.js";
import { silentLogger, type Logger } from "../observability/logger.js";
import { monotonicNowMs, type Clock } from "../util/clock.js";
import { subscribeStalls } from "../observability/stall-shared.js";
import { listen, notifyAll } from "../util/listen.js";
import { realClock } from "../util/timers.js";
import type { ElectionEvent, Leadership } from "./election.js";
import { QuorumCandidacy } from "./quorum-candidacy.js";
import { safeRules, type QuorumRules } from "./quorum-rules.js";
import { resolveTiming, validateId, type TimingOptions } from "./timing.js";
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
  simulation?: { now: () => number; clock: Clock; random: () => number; wallNow?: () => number };
}

/** A candidacy on a quorum of stores. Create with {@link startQuorumElection}. */
export class QuorumElection extends QuorumCandidacy {
  private readonly listeners = new Set<(e: ElectionEvent) => void>();
  /** The leader and term last announced through `leader-changed`. */
  private announced: string | null = null;
  private stalls = { count: 0, maxMs: 0 };
  private unsubscribeStalls: () => void = () => {};

  constructor(opts: QuorumElectionOptions) {
    if (!opts || typeof opts !== "object") throw new ConfigError("options", "startQuorumElection: options object required", { named: true });
    const timing = resolveTiming(opts);
    const key = validateKey("key", opts.key);
    const id = validateId("id", opts.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`);
    if (!Array.isArray(opts.stores) || opts.stores.length === 0) throw new ConfigError("stores", "at least one store required");
    const log = (opts.logger ?? silentLogger()).child({ election: key, id, stores: opts.stores.length });
    const sim = opts.simulation;
    let n = 0;
    super({
      id, key, timing, log, stores: opts.stores, meta: opts.meta, candidate: opts.candidate ?? true,
      rules: { ...safeRules, ...mutationsOf(sim).quorumRules },
      now: sim?.now ?? monotonicNowMs,
      wallNow: sim?.wallNow ?? Date.now,
      random: sim?.random ?? Math.random,
      clock: sim?.clock ?? realClock,
      newSecret: sim ? () => `sim-${id}-${++n}` : () => randomBytes(16).toString("hex"),
    });
    const threshold = opts.stallThresholdMs ?? 200;
    if (!sim && threshold > 0) this.unsubscribeStalls = subscribeStalls(threshold, (s) => this.onStall(s.durationMs));
    this.start();
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
    this.lapseIfDue();
    this.depose("resigned");
    this.step();
    await this.until(() => this.role !== "releasing", opts.signal);
  }

  /** Stops the candidacy, resigning first if leader. Idempotent. */
  async stop(opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.role === "stopped") return;
    this.afterRelease = "stopped";
    this.lapseIfDue();
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
    else {
      this.lapseIfDue();
      this.depose("resigned");
    }
    this.step();
  }

  /** Re-checks the deadline now (after stalls, and for simulations). */
  tick(): void {
    this.step();
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


  protected emit(e: ElectionEvent): void {
    notifyAll(this.listeners, e, (err) => this.log.error({ err, event: e.type }, "election listener threw"));
  }

  protected announce(leader: string, token: number): void {
    const k = `${token}\u0000${leader}`;
    if (k === this.announced) return;
    this.announced = k;
    this.emit({ type: "leader-changed", leader, token });
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
