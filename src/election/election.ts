/**
 * The public face of one election: wires the pure machine in `machine.ts` to
 * a {@link LeaseStore}, a clock, a logger and the event-loop stall monitor,
 * and answers `isLeader()` from the deadline rather than from a flag.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { createActor, type Actor, type AnyActorRef } from "xstate";
import { AbortedError, ConfigError, NotLeaderError, StoppedError } from "../errors.js";
import type { LeaseStore } from "../lease/store.js";
import type { Logger } from "../observability/logger.js";
import { ElectionLog } from "./election-log.js";
import { monotonicNowMs, type Clock } from "../util/clock.js";
import { subscribeStalls, type StallInfo } from "../observability/stall-shared.js";
import { processSuspendDetector, type SuspendDetector } from "../observability/suspend.js";
import { electionMachine, type ElectionDeposedReason, type ElectionEmitted, type MachineEvent } from "./machine.js";
import { SteadyRenewal } from "./steady.js";
import { machineFor, simulatedSecrets, writeLease } from "./store-actors.js";
import { startGateOf, type Admission } from "./start-gate.js";
import { mutationsOf } from "./mutations.js";
import { listen, notifyAll } from "../util/listen.js";
import { timersOn } from "../util/wheel.js";
import { resolveTiming, validateId, type Timing, type TimingOptions } from "./timing.js";
import { validateKey } from "../lease/keys.js";

export type { Clock };

/** Options of {@link startElection}. */
export interface ElectionOptions extends TimingOptions {
  /** Where the lease lives. */
  store: LeaseStore;
  /** Lease key inside the store, e.g. `region.eu-west.leader`. */
  key: string;
  /** Unique candidate id. Default `<hostname>-<pid>-<random>`. */
  id?: string;
  /** Structured logger (pino). Default: silent; library code never prints. */
  logger?: Logger;
  /** String attributes published in the lease record (region, address…). */
  meta?: Record<string, string>;
  /** Event-loop stall threshold in ms; 0 disables the monitor. Default 200. */
  stallThresholdMs?: number;
  /**
   * Deterministic simulation: monotonic `now()` in ms, the timer clock (e.g.
   * xstate `SimulatedClock`) and a seeded random source. Production leaves
   * this unset and gets CLOCK_MONOTONIC and real timers.
   */
  simulation?: {
    now: () => number;
    clock: Clock;
    random: () => number;
    wallNow?: () => number;
    /** Host-suspend detector (tests inject one whose BOOTTIME jumps); none by default in simulation. */
    suspend?: SuspendDetector;
  };
}

/** A leadership term, valid until `validUntil` (monotonic ms, see `monotonicNowMs`). */
export interface Leadership {
  /** Fencing token: strictly increasing per election; the same for the whole term. */
  token: number;
  /** Monotonic deadline of the current validity; moves forward on each renewal. */
  validUntil: number;
  /** Fires when the term ends: lapse, resign, supersession or stop. */
  signal: AbortSignal;
}

/** Events of an election, in order. */
export type ElectionEvent =
  | { type: "elected"; token: number; validUntil: number }
  | { type: "renewed"; token: number; validUntil: number }
  | { type: "deposed"; token: number; reason: ElectionDeposedReason; at: number }
  | { type: "leader-changed"; leader: string | null; token: number | null }
  | { type: "stall"; durationMs: number; token: number | null }
  | { type: "error"; op: string; error: unknown };

type Listener = (e: ElectionEvent) => void;

/** A running candidacy. Create with {@link startElection}. */
export class Election {
  /** This candidate's id. */
  readonly id: string;
  /** The lease key. */
  readonly key: string;
  /** The validated timing. */
  readonly timing: Timing;
  /** Made at the start (`start-gate.ts`): most of a construction's cost, and 30,000 at once blocked the loop for seconds. */
  private actorRef: Actor<typeof electionMachine> | null = null;
  private readonly makeActor: () => Actor<typeof electionMachine>;
  /** Renewals while they succeed, outside the machine (`steady.ts`). */
  private readonly steady: SteadyRenewal;
  private readonly now: () => number;
  private readonly log: ElectionLog;
  private readonly listeners = new Set<Listener>();
  private term: { token: number; controller: AbortController } | null = null;
  private unsubscribeStalls: () => void = () => {};
  private malformedLogged = false;
  private errorStreak = 0;
  private stalls = { count: 0, maxMs: 0 };
  private stopped = false;
  /** The store's start gate (`start-gate.ts`): none in simulation, or once the first answer came. */
  private admission: Admission | null = null;
  /** Host-suspend detector (CLOCK_BOOTTIME vs CLOCK_MONOTONIC) and the suspended total already acted on. */
  private readonly suspend: SuspendDetector | null;
  private suspendSeen = 0;

  constructor(opts: ElectionOptions) {
    if (!opts || typeof opts !== "object") throw new ConfigError("options", "startElection: options object required", { named: true });
    this.timing = resolveTiming(opts);
    this.key = validateKey("key", opts.key);
    this.id = validateId("id", opts.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`);
    if (!opts.store) throw new ConfigError("store", "startElection: store required", { named: true });
    this.log = new ElectionLog(opts.logger, this.key, this.id);
    const sim = opts.simulation;
    this.now = sim?.now ?? monotonicNowMs;
    const clock = sim?.clock;
    const store = opts.store;
    // Mutation tests only (mutations.ts): never set on a real election.
    const mutations = mutationsOf(sim);

    this.steady = new SteadyRenewal({
      timers: timersOn(clock),
      write: (input, signal) => writeLease(store, clock, input, signal),
      emit: (e) => this.onEmitted(e),
      ...(mutations.renewedDeadline ? { renewedDeadline: mutations.renewedDeadline } : {}),
    });
    const provided = machineFor(store, clock);
    const machine = mutations.machine ? mutations.machine(provided) : provided;
    this.makeActor = () => {
      const actor = createActor(machine, {
        input: {
          key: this.key,
          id: this.id,
          timing: this.timing,
          now: this.now,
          wallNow: sim?.wallNow ?? Date.now,
          random: sim?.random ?? Math.random,
          // Unguessable in production; in simulation deterministic and apart
          // from the seeded random stream, so seeds replay as before.
          secret: sim ? simulatedSecrets(this.id) : () => randomBytes(16).toString("hex"),
          ...(opts.meta ? { meta: opts.meta } : {}),
          steady: this.steady,
        },
        ...(clock ? { clock: clock as never } : {}),
      });
      actor.on("*", (e) => this.onEmitted(e as ElectionEmitted));
      actor.subscribe({ error: (err) => this.log.write("error", { err }, "election actor failed") });
      return actor;
    };
    // On even when the stall monitor is off: a suspend is a safety matter, not a statistic.
    this.suspend = sim ? (sim.suspend ?? null) : processSuspendDetector();
    this.suspendSeen = this.suspend?.check() ?? 0;
    const threshold = opts.stallThresholdMs ?? 200;
    if (!sim && threshold > 0) this.unsubscribeStalls = subscribeStalls(threshold, (s) => this.onStall(s));
    if (sim) this.actor.start();
    else this.admitStart(opts.store);
  }

  /**
   * Starts through the store's gate (`start-gate.ts`). The slot is held until
   * the election leads or waits on a holder (retries after errors included:
   * releasing at the first error let every election start into the retries),
   * or for one lease at most.
   */
  private admitStart(store: LeaseStore): void {
    let cancelTimer = () => {};
    let sub: { unsubscribe(): void } | undefined;
    const slot: { admission?: Admission } = {};
    const release = () => {
      sub?.unsubscribe();
      cancelTimer();
      this.admission = null;
      slot.admission?.done();
    };
    slot.admission = startGateOf(store).enter(() => {
      sub = this.actor.subscribe((s) => {
        if (s.matches("following") && !s.matches({ following: "waiting" }) && s.status === "active") return;
        release();
      });
      cancelTimer = timersOn(undefined).schedule(this.timing.leaseMs, release);
      this.actor.start();
    });
    this.admission = slot.admission;
  }

  private get actor(): Actor<typeof electionMachine> {
    return (this.actorRef ??= this.makeActor());
  }

  /** True while this candidate holds the lease *and* its deadline has not passed. */
  isLeader(): boolean {
    return this.leadership() !== null;
  }

  /** The current term, or `null` when not leader or past the deadline. */
  leadership(): Leadership | null {
    // No term, no lease (and an election not started yet has no actor to ask).
    if (!this.term) return null;
    const snap = this.actor.getSnapshot();
    if (!snap.matches("leader")) return null;
    const validUntil = this.steady.deadline(snap.context.deadline);
    if (this.now() >= validUntil) return null;
    // The monotonic clock stops during a host suspend, so the deadline alone
    // would still look valid right after one; the stall probe may not have
    // run yet. Ask the clocks (~4 µs); the deposition follows in a microtask.
    if (this.suspend && this.suspend.check() > this.suspendSeen) {
      queueMicrotask(() => this.checkSuspended());
      return null;
    }
    return { token: this.term.token, validUntil, signal: this.term.controller.signal };
  }

  /** Current state name (for status displays): following, leader, lapsed, resigning or stopped. */
  state(): string {
    if (!this.actorRef) return "following"; // not started yet: its initial state
    const v = this.actor.getSnapshot().value;
    return typeof v === "string" ? v : Object.keys(v)[0] ?? "unknown";
  }

  /** Stall statistics seen by this election. */
  stallStats(): { count: number; maxMs: number } {
    return { ...this.stalls };
  }

  /** Subscribes to events; returns an unsubscribe function. */
  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Async iterator of events until the election stops or `signal` fires. */
  events(opts: { signal?: AbortSignal } = {}): AsyncGenerator<ElectionEvent> {
    return listen<ElectionEvent>((push) => this.on(push), { signal: opts.signal, ended: () => this.stopped });
  }

  /**
   * Hands leadership over: `deposed` (reason `resigned`) fires *before* the
   * release is written, then watching successors take over within a round
   * trip. Resolves when the release is done (or given up). No-op when not leader.
   */
  async resign(opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.stopped) throw new StoppedError();
    if (!this.actorRef || !this.actor.getSnapshot().matches("leader")) return;
    this.send({ type: "RESIGN" });
    await this.waitUntil((s) => !s.matches("resigning") && !s.matches("leader"), opts.signal);
  }

  /** Stops the candidacy, resigning first if leader. Idempotent. */
  async stop(opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.stopped) return;
    this.admission?.now();
    this.send({ type: "STOP" });
    try {
      await this.waitUntil((s) => s.status === "done", opts.signal);
    } finally {
      this.stopped = true;
      this.admission?.done();
      this.endTerm();
      // Stopping the actor runs no exit actions: end the steady renewals here.
      this.steady.stop();
      this.actorRef?.stop();
      this.unsubscribeStalls();
      for (const l of this.listeners) l({ type: "leader-changed", leader: null, token: null });
      this.listeners.clear();
    }
  }

  /** Re-checks the deadline, and for a host suspend, now (used after stalls and by simulations). */
  tick(): void {
    if (this.stopped) return;
    this.checkSuspended();
    this.send({ type: "TICK" });
  }

  /**
   * A host suspend not yet acted on: report it as a stall and depose at once
   * (reason `lapsed`): the time the holder's clock did not count may have let
   * a successor take over. An acquiring write in flight is abandoned.
   */
  private checkSuspended(): void {
    if (!this.suspend || this.stopped) return;
    const total = this.suspend.check();
    const suspendedMs = total - this.suspendSeen;
    if (suspendedMs <= 0) return;
    this.suspendSeen = total;
    this.stalls.count++;
    this.stalls.maxMs = Math.max(this.stalls.maxMs, suspendedMs);
    const token = this.term?.token ?? null;
    this.log.write("warn", { suspendedMs: Math.round(suspendedMs), leader: token !== null, token }, "host suspend detected");
    this.emit({ type: "stall", durationMs: suspendedMs, token });
    this.send({ type: "SUSPENDED" });
  }

  /** Every event of ours reaches the machine after what the steady renewals changed. */
  private send(e: MachineEvent): void {
    // Not started yet: the machine would ignore a TICK or SUSPENDED in its initial state anyway.
    if (!this.actorRef) return;
    this.steady.flush();
    this.actor.send(e);
  }

  private waitUntil(pred: (s: ReturnType<Election["actor"]["getSnapshot"]>) => boolean, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (pred(this.actor.getSnapshot())) return resolve();
      const sub = this.actor.subscribe((s) => {
        if (pred(s)) done(resolve);
      });
      const onAbort = () => done(() => reject(new AbortedError("aborted", { cause: signal?.reason })));
      const done = (fn: () => void) => {
        sub.unsubscribe();
        signal?.removeEventListener("abort", onAbort);
        fn();
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort);
    });
  }

  private endTerm(reason?: unknown): void {
    if (!this.term) return;
    this.term.controller.abort(reason ?? new NotLeaderError("leadership ended"));
    this.term = null;
  }

  private emit(e: ElectionEvent): void {
    notifyAll(this.listeners, e, (err) => this.log.write("error", { err, event: e.type }, "election listener threw"));
  }

  private onEmitted(e: ElectionEmitted): void {
    switch (e.type) {
      case "elected":
        this.term = { token: e.token, controller: new AbortController() };
        this.errorStreak = 0;
        this.log.write("info", { token: e.token, validUntil: e.validUntil }, "elected");
        return this.emit(e);
      case "renewed":
        this.errorStreak = 0;
        return this.emit(e);
      case "deposed":
        // Abort the term's signal first: guarded work stops before anyone hears.
        this.endTerm(new NotLeaderError(`deposed: ${e.reason}`));
        this.log.write(e.reason === "lapsed" || e.reason === "superseded" ? "warn" : "info", { token: e.token, reason: e.reason }, "deposed");
        return this.emit(e);
      case "leader-changed":
        this.log.write("debug", { leader: e.leader, token: e.token }, "leader changed");
        return this.emit(e);
      case "malformed":
        if (!this.malformedLogged) {
          this.malformedLogged = true;
          this.log.write("warn", { key: this.key, revision: e.revision, reason: e.reason }, "undecodable lease record: treated as held by unknown");
        }
        return;
      case "store-error": {
        this.errorStreak++;
        const err = e.error as { code?: string; message?: string };
        // First error of a streak at warn, the rest at debug: an outage is one log line, not thousands.
        // A recreated bucket below the token floor needs an operator: error.
        const first = err?.code === "TOKEN_FLOOR" ? "error" : "warn";
        this.log.write(this.errorStreak === 1 ? first : "debug", { op: e.op, code: err?.code, err: err?.message }, "store error");
        return this.emit({ type: "error", op: e.op, error: e.error });
      }
    }
  }

  private onStall(s: StallInfo): void {
    // The probe asked the process-wide detector, which this election shares.
    if (s.suspendedMs) return this.checkSuspended();
    this.stalls.count++;
    this.stalls.maxMs = Math.max(this.stalls.maxMs, s.durationMs);
    const token = this.term?.token ?? null;
    this.log.write("warn", { durationMs: Math.round(s.durationMs), leader: token !== null, token }, "event loop stalled");
    this.emit({ type: "stall", durationMs: s.durationMs, token });
    // A stall only matters to a leader whose deadline passed meanwhile (the
    // machine's timer may fire late). Ticking every election instead costs
    // one transition each, per stall: 10,000 of them in a process with 10,000
    // elections, which is a stall of its own.
    if (!this.actorRef) return;
    const snap = this.actor.getSnapshot();
    if (snap.matches("leader") && this.now() >= this.steady.deadline(snap.context.deadline)) this.tick();
  }
}

/** Starts a candidacy. Throws {@link ConfigError} on invalid options. */
export function startElection(opts: ElectionOptions): Election {
  return new Election(opts);
}

export type { AnyActorRef };
