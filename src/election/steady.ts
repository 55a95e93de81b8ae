/**
 * A holder's renewals while they succeed, outside the xstate machine. At
 * 10,000 elections per process, two machine transitions per renewal (the
 * renew timer, the write's result) and a spawned promise actor cost ~45 KB of
 * garbage and most of the CPU per renewal (BENCHMARKS.md). Here a steady
 * renewal is one timer on the shared wheel and one CAS, and the machine hears
 * of it only when it matters:
 *
 * - the machine enters `leader.steady` after each successful acquire or retry
 *   and calls `start`; leaving that state (any event that moves the leader)
 *   calls `stop`, which abandons a write in flight;
 * - every event for the leader is preceded by `RENEW.SYNC` with the holder
 *   fields the renewals moved (`flush`: `election.ts` before its own events
 *   and the watch's errors, the watch's changes through `admit`), so the
 *   machine's guards see exactly what they would have seen had each renewal
 *   been a transition. Any event, even one without a transition, re-checks
 *   `pastDeadline` against the machine's deadline: one reaching it unsynced
 *   would depose a healthy leader;
 * - a failed renewal comes back as `RENEW.FAILED`; the machine's
 *   `leader.retrying` does the retries, verifying and backoff as before;
 * - at the deadline it syncs and sends `TICK`: the machine's `pastDeadline`
 *   rule deposes the holder (reason `lapsed`).
 *
 * The computations are the machine's own (`rules.ts`): the renew delay and its
 * random draw, `markSend`, the attempt deadline, validity from the send, the
 * watch's `foreignChange`. Events (`renewed`) and deadlines are unchanged.
 */
import type { StoreEntry } from "../lease/store.js";
import type { Timers } from "../util/wheel.js";
import { deadlineAfter, foreignChange, renewalValue, untilRenew, type ElectionContext, type ElectionEmitted, type MachineEvent, type SteadyState, type WriteInput } from "./rules.js";
import { attemptTimeoutMs, type Timing } from "./timing.js";
import { AbortedError } from "../errors.js";

/** What the steady path needs from its election. */
export interface SteadyHost {
  timers: Timers;
  /** The conditional write, with its attempt timeout (the machine's `writeLease`). */
  write(input: WriteInput, signal: AbortSignal): Promise<number>;
  /** Delivers `renewed` like an event the machine emitted. */
  emit(e: ElectionEmitted): void;
  /** Simulation only (mutation tests): validity after a renewal sent at `sentAt` and confirmed at `repliedAt`. */
  renewedDeadline?: (sentAt: number, repliedAt: number, timing: Timing) => number;
}

export class SteadyRenewal {
  private ctx: ElectionContext | null = null;
  private send: ((e: MachineEvent) => void) | null = null;
  private st: SteadyState = { revision: 0, deadline: 0, sendAt: 0, unconfirmedSince: null, confirmedAt: null };
  /** `st` moved since the machine last heard of it. */
  private dirty = false;
  /** Bumped by every start and stop: results of an older session are dropped. */
  private gen = 0;
  private cancelTimer: (() => void) | null = null;
  private ac: AbortController | null = null;

  constructor(private readonly host: SteadyHost) {}

  /** True while the machine is in `leader.steady`. */
  get active(): boolean {
    return this.ctx !== null;
  }

  /** The current deadline: ours while steady, else the machine's. */
  deadline(machineDeadline: number): number {
    return this.ctx ? this.st.deadline : machineDeadline;
  }

  /** The machine's entry action of `leader.steady`. */
  start(ctx: ElectionContext, send: (e: MachineEvent) => void): void {
    this.stop();
    this.gen++;
    this.ctx = ctx;
    this.send = send;
    this.st = { revision: ctx.revision, deadline: ctx.deadline, sendAt: ctx.sendAt, unconfirmedSince: ctx.unconfirmedSince, confirmedAt: null };
    this.dirty = false;
    this.ac = new AbortController();
    this.scheduleRenew();
  }

  /** Tells the machine what changed, before an event of `election.ts` reaches it. */
  flush(): void {
    if (!this.ctx || !this.dirty) return;
    this.dirty = false;
    const state = { ...this.st };
    this.st.confirmedAt = null;
    this.send!({ type: "RENEW.SYNC", state });
  }

  /**
   * A watch change for this election: false when steady and the machine
   * would ignore it (our own renewal, or older); otherwise syncs first.
   */
  admit(entry: StoreEntry | null): boolean {
    const ctx = this.ctx;
    if (!ctx) return true;
    const s = this.st;
    if (!foreignChange({ id: ctx.id, token: ctx.token, termCommit: ctx.termCommit, timing: ctx.timing, unconfirmedSince: s.unconfirmedSince, revision: s.revision }, entry)) return false;
    this.flush();
    return true;
  }

  /** The machine's exit action of `leader.steady`, and the election's stop. Idempotent. */
  stop(): void {
    if (!this.ctx) return;
    this.gen++;
    this.cancelTimer?.();
    this.cancelTimer = null;
    // A write in flight is abandoned, as the machine's invoked actor was on leaving `renewing`.
    this.ac?.abort(new AbortedError("renewal stopped"));
    this.ac = null;
    this.ctx = null;
    this.send = null;
  }

  private scheduleRenew(): void {
    const ctx = this.ctx!;
    const s = this.st;
    const delay = untilRenew({ revision: s.revision, token: ctx.token, random: ctx.random, sendAt: s.sendAt, timing: ctx.timing, now: ctx.now });
    this.cancelTimer = this.host.timers.schedule(delay, this.onRenewTimer);
  }

  /** The deadline passed (a late timer, a stalled loop): the machine deposes. */
  private lapse(): void {
    const send = this.send!;
    this.flush();
    send({ type: "TICK" });
  }

  private readonly onRenewTimer = (): void => {
    this.cancelTimer = null;
    const ctx = this.ctx;
    if (!ctx) return;
    const s = this.st;
    const now = ctx.now();
    if (now >= s.deadline) return this.lapse();
    // markSend: validity will count from here.
    s.sendAt = now;
    s.unconfirmedSince ??= now;
    this.dirty = true;
    const gen = this.gen;
    const input: WriteInput = {
      key: ctx.key,
      value: renewalValue(ctx),
      revision: s.revision,
      // As in the machine: one lost request or ack must not run past the deadline.
      timeoutMs: attemptTimeoutMs(ctx.timing, s.deadline - now),
    };
    // The attempt deadline makes the write settle before the validity does;
    // this covers a store that does not honour its signal.
    this.cancelTimer = this.host.timers.schedule(s.deadline - now, this.onDeadline);
    this.host.write(input, this.ac!.signal).then(
      (revision) => this.gen === gen && this.renewed(revision),
      (error) => this.gen === gen && this.failed(error),
    );
  };

  private readonly onDeadline = (): void => {
    this.cancelTimer = null;
    const ctx = this.ctx;
    if (!ctx) return;
    const left = this.st.deadline - ctx.now();
    if (left <= 0) return this.lapse();
    this.cancelTimer = this.host.timers.schedule(left, this.onDeadline);
  };

  private renewed(revision: number): void {
    const ctx = this.ctx!;
    const s = this.st;
    this.cancelTimer?.();
    this.cancelTimer = null;
    const now = ctx.now();
    s.revision = revision;
    s.deadline = this.host.renewedDeadline ? this.host.renewedDeadline(s.sendAt, now, ctx.timing) : deadlineAfter(ctx, s.sendAt);
    s.unconfirmedSince = null;
    s.confirmedAt = now;
    this.dirty = true;
    const gen = this.gen;
    this.host.emit({ type: "renewed", token: ctx.token, validUntil: s.deadline });
    // A listener may have resigned or stopped the election meanwhile.
    if (this.gen !== gen) return;
    // A reply heard after a long stall may come past the new deadline too.
    if (now >= s.deadline) return this.lapse();
    this.scheduleRenew();
  }

  private failed(error: unknown): void {
    const send = this.send!;
    const state = { ...this.st };
    this.stop();
    send({ type: "RENEW.FAILED", state, error });
  }
}
