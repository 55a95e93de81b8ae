/**
 * The election algorithm, as one pure xstate v5 machine. Store I/O is done by
 * actors injected with `.provide()` (see `election.ts`); the clock is read
 * through `context.now`, so the machine runs deterministically under
 * `SimulatedClock` with the in-memory store.
 *
 * The rules (docs/safety.md argues why they prevent overlap):
 * - Acquire by `create` when the key is vacant, by CAS on a revision released
 *   by someone else, or by CAS on a revision this candidate has itself watched
 *   unchanged for a full lease on its own monotonic clock — the longer of its
 *   own lease and the one in the holder's record.
 * - Renew by CAS on the holder's own last revision; validity runs from the
 *   moment the successful write was *sent*: lease × (1 − maxDrift) − margin.
 * - At the deadline the holder is deposed (reason `lapsed`) whatever the store
 *   is doing; store errors before then are retried, never a step-down.
 * - The token is the revision of the acquiring write; renewals keep it.
 * - Renewals that succeed run outside the machine (`steady.ts`) while it is
 *   in `leader.steady`; it hears of them before any other event (RENEW.SYNC)
 *   and takes over at the first failure (RENEW.FAILED).
 * - A holder keeps watching its key: any newer revision it did not write
 *   deposes it at once (`superseded`; `lapsed` if heard past its deadline,
 *   after a stall). A follower takes a release at once
 *   only when it can attribute it to the term it watched (`attribution.ts`).
 */
import { assign, emit, enqueueActions, fromCallback, fromPromise, setup } from "xstate";
import type { StoreEntry } from "../lease/store.js";
import { viewOf } from "../lease/record.js";
import {
  deadlineAfter, errorOf, foreignChange, isConflict, jitter, observed, observedOwn, payloadOf, record, renewalValue, renewRetryMs, revisionOf,
  staleRead, stillMine, takeable, unchangedMine, view, type ElectionContext, type ElectionEmitted, type MachineEvent, type ElectionInput, type SteadyRunner, type SteadyState, type WriteInput,
} from "./rules.js";
import { attemptTimeoutMs } from "./timing.js";
import { commitOf, encodeRecord } from "../wire/lease-record.js";

export type { ElectionDeposedReason, ElectionContext, ElectionEmitted, MachineEvent, ElectionInput, SteadyRunner, SteadyState, WriteInput } from "./rules.js";

/** Placeholder actors: `election.ts` provides the real ones. */
const unprovided = (name: string) => async (): Promise<never> => {
  throw new Error(`actor ${name} not provided`);
};

/** Input of the CAS that releases our record (resign, lapse, a win heard too late). */
const releaseInput = ({ context }: { context: ElectionContext }): WriteInput => ({
  key: context.key,
  value: encodeRecord(record(context, context.token, true)),
  revision: context.revision,
});

/** One best-effort release, then follow (or stop): after a lapse, and after a win heard too late. */
const releaseOnce = {
  invoke: {
    src: "writeLease",
    input: releaseInput,
    onDone: [{ guard: "stopRequested", target: "stopped" }, { target: "following" }],
    onError: [{ guard: "stopRequested", target: "stopped" }, { target: "following" }],
  },
  on: { STOP: { target: "stopped" } },
} as const;

/** The watch's input: `steady` drops what a steady leader would ignore, and syncs before the rest. */
export type WatchInput = { key: string; retryMs: number; steady: SteadyRunner };
const watchInput = ({ context }: { context: ElectionContext }): WatchInput => ({ key: context.key, retryMs: context.timing.retryMs * 4, steady: context.steady });

/** Vacant: `create`; released by someone else, or waited out: CAS on the observed revision. */
const acquireInput = ({ context }: { context: ElectionContext }): WriteInput => ({
  key: context.key,
  value: encodeRecord(record({ ...context, acquiredAtWall: context.wallNow() }, 0, false)),
  // Revision 0 asks for `create` (key absent, deleted, purged, or a vacancy waited out).
  revision: context.observedVacant ? 0 : context.observedRevision,
  // A win heard after attemptMs still leaves room for a renewal retry.
  timeoutMs: context.timing.attemptMs,
});

/**
 * The acquiring write: `create` on a vacancy, else a CAS on the observed
 * revision (released by someone else, or watched unchanged for a full lease).
 */
const acquiring = {
  entry: ["newTermSecret", "markSend"],
  // A suspend while the write is in flight: its validity cannot be known. Re-read.
  on: { "STORE.CHANGE": {}, SUSPENDED: "reading" },
  invoke: {
    src: "writeLease",
    input: acquireInput,
    onDone: [
      // The reply came so late that the term is already over (a pause,
      // a slow link): never announce it — give the lease back quietly.
      { guard: "acquiredTooLate", target: "#election.abandoned", actions: "acquired" },
      { target: "#election.leader", actions: "acquired" },
    ],
    onError: [
      { guard: "isConflict", target: "reading", actions: ["resetFailures", "lostRace"] },
      { target: "backoff", actions: ["failed", { type: "emitStoreError", params: ({ context }: { context: ElectionContext }) => ({ op: context.acquireOp }) }] },
    ],
  },
} as const;

export const electionMachine = setup({
  types: {
    context: {} as ElectionContext,
    events: {} as MachineEvent,
    input: {} as ElectionInput,
    emitted: {} as ElectionEmitted,
  },
  actors: {
    readLease: fromPromise<StoreEntry | null, { key: string }>(unprovided("readLease")),
    /** `store.create` when `revision` is 0, else `store.update(key, value, revision)`. Outputs the new revision. */
    writeLease: fromPromise<number, WriteInput>(unprovided("writeLease")),
    /** Watches `key`, sending `STORE.CHANGE` / `STORE.WATCH_ERROR`; re-watches `retryMs` after an error. */
    watchLease: fromCallback<MachineEvent, WatchInput>(() => () => {}),
  },
  delays: {
    /** Time left until our validity deadline. */
    untilDeadline: ({ context }) => Math.max(0, context.deadline - context.now()),
    /** Takeover: a full lease (ours or the holder's, the longer) of watching the same revision, on our own clock. */
    untilTakeover: ({ context }) => Math.max(0, context.observedSince + context.observedLeaseMs - context.now()),
    /** Followers re-read periodically: a watch is a hint and may miss updates. */
    reconcile: ({ context }) => context.timing.renewMs,
    retry: ({ context }) => jitter(context, context.timing.retryMs),
    renewRetry: ({ context }) => renewRetryMs(context),
  },
  guards: {
    pastDeadline: ({ context }) => context.now() >= context.deadline,
    acquiredTooLate: ({ context }) => context.now() >= context.sendAt + context.timing.validForMs,
    isConflict: ({ event }) => isConflict(errorOf(event)),
    takeable: ({ context, event }) => takeable(context, view(payloadOf(event))),
    staleChange: ({ context, event }) =>
      event.type === "STORE.CHANGE" && (event.entry?.revision ?? 0) < context.observedRevision,
    changeTakeable: ({ context, event }) =>
      event.type === "STORE.CHANGE" && takeable(context, viewOf(event.entry)),
    /** A leader's watch: a revision newer than ours that we did not write (`rules.ts`). */
    foreignChange: ({ context, event }) => event.type === "STORE.CHANGE" && foreignChange(context, event.entry),
    // After a lost renewal CAS (`rules.ts`).
    stillMine: ({ context, event }) => stillMine(context, view(payloadOf(event))),
    staleRead: ({ context, event }) => staleRead(context, view(payloadOf(event))),
    unchangedMine: ({ context, event }) => unchangedMine(context, view(payloadOf(event))),
    stopRequested: ({ context }) => context.stopRequested,
  },
  actions: {
    /**
     * Follower bookkeeping: restart the full-lease wait whenever the revision
     * changes, announce leader changes, report undecodable records.
     */
    observe: enqueueActions(({ context, event, enqueue }) => {
      const v = view(payloadOf(event));
      if (v.revision !== context.observedRevision) {
        enqueue.assign(observed(context, v));
        if (v.state === "unknown") enqueue.emit({ type: "malformed", revision: v.revision, reason: v.reason });
      }
      const leader = v.state === "held" ? v.holder : v.state === "unknown" ? "unknown" : null;
      const token = v.state === "held" ? v.token : null;
      if (leader !== context.announcedLeader || token !== context.announcedToken) {
        enqueue.assign({ announcedLeader: leader, announcedToken: token });
        enqueue.emit({ type: "leader-changed", leader, token });
      }
    }),
    /** A new candidacy write: a fresh term secret, so a release of this term can be attributed. */
    newTermSecret: assign(({ context }) => {
      const termSecret = context.secret();
      return { termSecret, termCommit: commitOf(termSecret) };
    }),
    markSend: assign(({ context }) => {
      const now = context.now();
      return { sendAt: now, unconfirmedSince: context.unconfirmedSince ?? now };
    }),
    /** The acquiring write succeeded: its revision is the token; validity counts from its send. */
    acquired: assign(({ context, event }) => ({
      acquiredAtWall: context.wallNow(),
      revision: revisionOf(event),
      token: revisionOf(event),
      deadline: deadlineAfter(context, context.sendAt),
      unconfirmedSince: null,
      failures: 0,
      announcedLeader: context.id,
      announcedToken: revisionOf(event),
      ...observedOwn(context, revisionOf(event), revisionOf(event), context.now()),
    })),
    renewed: assign(({ context, event }) => ({
      revision: revisionOf(event),
      deadline: deadlineAfter(context, context.sendAt),
      unconfirmedSince: null,
      failures: 0,
      ...observedOwn(context, revisionOf(event), context.token, context.now()),
    })),
    /** What the steady renewals changed (`steady.ts`); a confirmed renewal counts as `renewed` did, at its time. */
    sync: assign(({ context, event }) => {
      const s = (event as { state: SteadyState }).state;
      const held = { revision: s.revision, deadline: s.deadline, sendAt: s.sendAt, unconfirmedSince: s.unconfirmedSince };
      return s.confirmedAt === null ? held : { ...held, failures: 0, ...observedOwn(context, s.revision, context.token, s.confirmedAt) };
    }),
    /**
     * A renewal CAS conflicted on a newer record that looks like ours. It may be
     * a write of ours that landed, or a copy (every field is public) written
     * before our send, which followers started waiting on when they saw it:
     * note its revision but extend nothing; the CAS over it (`renewing`) does.
     */
    adopt: assign(({ context, event }) => {
      const revision = view(payloadOf(event)).revision;
      return { revision, failures: 0, ...observedOwn(context, revision, context.token, context.now()) };
    }),
    /** Our acquiring CAS lost: someone else wrote, and what we read next may be written over it. Trust nothing at once. */
    lostRace: assign(({ context }) => ({ observedFree: false, observedSince: context.now() })),
    failed: assign(({ context }) => ({ failures: context.failures + 1 })),
    resetFailures: assign({ failures: 0, unconfirmedSince: null }),
    emitElected: emit(({ context }) => ({ type: "elected" as const, token: context.token, validUntil: context.deadline })),
    emitRenewed: emit(({ context }) => ({ type: "renewed" as const, token: context.token, validUntil: context.deadline })),
    emitLeaderSelf: emit(({ context }) => ({ type: "leader-changed" as const, leader: context.id, token: context.token })),
    /** Someone else's record replaced ours; heard only past our deadline (a stall: the socket read ran before the timer), the deadline ended us. */
    emitTaken: emit(({ context }) => ({ type: "deposed" as const, token: context.token, reason: context.now() >= context.deadline ? ("lapsed" as const) : ("superseded" as const), at: context.now() })),
    emitStoreError: emit(({ event }, params: { op: string }) => ({ type: "store-error" as const, op: params.op, error: errorOf(event) })),
    requestStop: assign({ stopRequested: true }),
    /** What the acquiring write is, for its store errors: a free state taken at once, or one waited out. */
    takeAtOnce: assign({ acquireOp: "acquire" as const }),
    takeOver: assign({ acquireOp: "takeover" as const }),
  },
}).createMachine({
  id: "election",
  context: ({ input }) => ({
    ...input,
    observedRevision: -1,
    observedSince: 0,
    observedLeaseMs: input.timing.leaseMs,
    observedVacant: false,
    observedFree: false,
    seenTerm: null,
    acquireOp: "acquire",
    termSecret: "",
    termCommit: "",
    announcedLeader: null,
    announcedToken: null,
    revision: 0,
    token: 0,
    deadline: Number.NEGATIVE_INFINITY,
    acquiredAtWall: 0,
    sendAt: 0,
    unconfirmedSince: null,
    failures: 0,
    stopRequested: false,
  }),
  initial: "following",
  states: {
    following: {
      on: {
        STOP: "#election.stopped",
        // The watch is a hint: older revisions are ignored, a release or delete
        // is raced for at once, anything else restarts the full-lease wait.
        "STORE.CHANGE": [
          { guard: "staleChange" },
          { guard: "changeTakeable", target: ".acquiring", actions: ["observe", "takeAtOnce"] },
          { target: ".waiting", actions: "observe" },
        ],
        "STORE.WATCH_ERROR": { actions: { type: "emitStoreError", params: { op: "watch" } } },
      },
      invoke: { src: "watchLease", input: watchInput },
      initial: "reading",
      states: {
        reading: {
          invoke: {
            src: "readLease",
            input: ({ context }) => ({ key: context.key }),
            onDone: [
              { guard: "takeable", target: "acquiring", actions: ["observe", "takeAtOnce"] },
              { target: "waiting", actions: ["observe", "resetFailures"] },
            ],
            onError: { target: "backoff", actions: ["failed", { type: "emitStoreError", params: { op: "get" } }] },
          },
        },
        waiting: {
          after: { untilTakeover: { target: "acquiring", actions: "takeOver" }, reconcile: "reading" },
        },
        backoff: {
          after: { retry: "reading" },
        },
        acquiring,
      },
    },
    leader: {
      entry: ["emitElected", "emitLeaderSelf"],
      // Leadership is a deadline: any event at or past it deposes, even one
      // processed late after an event-loop stall.
      always: { guard: "pastDeadline", target: "lapsed" },
      on: {
        // Asked after a stall that outlasted the deadline: the deadline ended the term first.
        RESIGN: [{ guard: "pastDeadline", target: "lapsed" }, { target: "resigning" }],
        STOP: [{ guard: "pastDeadline", target: "lapsed", actions: "requestStop" }, { target: "resigning", actions: "requestStop" }],
        TICK: { guard: "pastDeadline", target: "lapsed" },
        SUSPENDED: "lapsed",
        // Replaced, released or deleted by someone else: stop at once, extend nothing.
        "STORE.CHANGE": { guard: "foreignChange", target: "following", actions: "emitTaken" },
        "STORE.WATCH_ERROR": { actions: { type: "emitStoreError", params: { op: "watch" } } },
        "RENEW.SYNC": { actions: "sync" },
      },
      // The holder watches too (one shared watch per store): see `foreignChange`.
      invoke: { src: "watchLease", input: watchInput },
      initial: "steady",
      states: {
        /**
         * Renewals while they succeed: a timer and a CAS each in `steady.ts`,
         * no transition. Entered after every successful write, so the renew
         * delay counts from it as before.
         */
        steady: {
          // Entry and exit actions rather than an invoked actor: no actor per election.
          entry: ({ context, self }) => context.steady.start(context, (e) => self.send(e)),
          exit: ({ context }) => context.steady.stop(),
          on: {
            "RENEW.FAILED": [
              { guard: "isConflict", target: "retrying.verifying", actions: "sync" },
              { target: "retrying.backoff", actions: ["sync", "failed", { type: "emitStoreError", params: { op: "renew" } }] },
            ],
          },
        },
        /** A renewal failed: retry until one lands (back to `steady`), the record is taken, or the deadline. */
        retrying: {
          after: { untilDeadline: "#election.lapsed" },
          initial: "renewing",
          states: {
            renewing: {
              entry: "markSend",
              invoke: {
                src: "writeLease",
                input: ({ context }) => ({
                  key: context.key,
                  value: renewalValue(context),
                  revision: context.revision,
                  // Every attempt: one lost request or ack must not run past
                  // the deadline, and when the store comes back (a 4–8 s
                  // stream-leader election) an attempt lost in the outage is
                  // abandoned in time for the next one to land.
                  timeoutMs: attemptTimeoutMs(context.timing, context.deadline - context.now()),
                }),
                onDone: { target: "#election.leader.steady", actions: ["renewed", "emitRenewed"] },
                onError: [
                  { guard: "isConflict", target: "verifying" },
                  { target: "backoff", actions: ["failed", { type: "emitStoreError", params: { op: "renew" } }] },
                ],
              },
            },
            backoff: { after: { renewRetry: "renewing" } },
            /** CAS lost: is the record still ours (an unconfirmed write of ours landed) or taken? */
            verifying: {
              invoke: {
                src: "readLease",
                input: ({ context }) => ({ key: context.key }),
                onDone: [
                  // Ours or a copy: renew over it at once, validity unchanged until that lands.
                  { guard: "stillMine", target: "renewing", actions: "adopt" },
                  // Our record, unchanged: the conflict was not about us after all. Retry.
                  { guard: "unchangedMine", target: "backoff" },
                  // Older than what we wrote ourselves: a lagging store. Retry, validity unchanged.
                  { guard: "staleRead", target: "backoff", actions: "failed" },
                  { target: "#election.following", actions: "emitTaken" },
                ],
                onError: { target: "backoff", actions: "failed" },
              },
            },
          },
        },
      },
    },
    /** Deadline passed: fenced. Best-effort release so successors need not wait a lease. */
    lapsed: {
      entry: emit(({ context }) => ({ type: "deposed" as const, token: context.token, reason: "lapsed" as const, at: context.now() })),
      ...releaseOnce,
    },
    /** Graceful hand-over: deposed is emitted *before* the release is sent. */
    resigning: {
      entry: emit(({ context }) => ({
        type: "deposed" as const,
        token: context.token,
        reason: context.stopRequested ? ("stopped" as const) : ("resigned" as const),
        at: context.now(),
      })),
      on: { STOP: { actions: "requestStop" } },
      initial: "releasing",
      states: {
        releasing: {
          invoke: {
            src: "writeLease",
            input: releaseInput,
            onDone: [{ guard: "stopRequested", target: "#election.stopped" }, { target: "#election.following" }],
            onError: [
              { guard: "stopRequested", target: "#election.stopped" },
              { guard: "isConflict", target: "#election.following" },
              // Transient: retry while our record could still block others for a lease.
              { target: "backoff", actions: "failed" },
            ],
          },
        },
        backoff: {
          after: { retry: [{ guard: "pastDeadline", target: "#election.following" }, { target: "releasing" }] },
        },
      },
    },
    /** Won a write whose validity had already run out by the time we heard: release, never act. */
    abandoned: releaseOnce,
    stopped: { type: "final" },
  },
});

export type ElectionMachine = typeof electionMachine;
