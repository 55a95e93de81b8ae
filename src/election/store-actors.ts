/**
 * The machine's store actors for {@link Election}: the read, the conditional
 * write with its attempt deadline, and the watch loop, provided once per
 * (store, clock) and shared by every election on that store.
 */
import { fromCallback, fromPromise } from "xstate";
import { AbortedError, StoreUnavailableError } from "../errors.js";
import type { LeaseStore, StoreEntry, WatchSubscriber } from "../lease/store.js";
import { electionMachine, type MachineEvent, type WatchInput, type WriteInput } from "./machine.js";
import { deadlineSignal, realClock, sleep } from "../util/timers.js";
import { clockOf, timersOn, type Timers } from "../util/wheel.js";
import type { Clock } from "../util/clock.js";

/**
 * The machine with its store actors, one per (store, clock) and shared by
 * every election on that store: a provided machine costs ~45 KB and keeps its
 * own transition caches, which at 10,000 elections per process was a large
 * part of the heap and of the CPU per renewal.
 */
const machines = new WeakMap<LeaseStore, Map<Clock | undefined, typeof electionMachine>>();

export function machineFor(store: LeaseStore, clock: Clock | undefined): typeof electionMachine {
  let byClock = machines.get(store);
  if (!byClock) machines.set(store, (byClock = new Map()));
  let m = byClock.get(clock);
  if (!m) {
    m = electionMachine.provide({
      actors: {
        readLease: fromPromise<StoreEntry | null, { key: string }>(({ input, signal }) => store.get(input.key, { signal })),
        writeLease: fromPromise<number, WriteInput>(({ input, signal }) => writeLease(store, clock, input, signal)),
        watchLease: fromCallback<MachineEvent, WatchInput>(({ input, sendBack }) =>
          isSubscriber(store) ? subscribeLoop(store, input, sendBack, timersOn(clock)) : watchLoop(store, input, sendBack, clock ?? realClock),
        ),
      },
    });
    byClock.set(clock, m);
  }
  return m;
}

/** Attempt deadlines on Node's timers go on the shared wheel: one per write, nearly all cancelled. */
const wheelClock = clockOf(timersOn(undefined));

/** `store.create` when `revision` is 0, else `store.update`; within the attempt's timeout. */
export function writeLease(store: LeaseStore, clock: Clock | undefined, input: WriteInput, signal: AbortSignal): Promise<number> {
  return withAttemptTimeout(signal, input.timeoutMs, clock ?? wheelClock, (s) =>
    input.revision === 0 ? store.create(input.key, input.value, { signal: s }) : store.update(input.key, input.value, input.revision, { signal: s }),
  );
}

/**
 * Runs `call` with a signal that also fires after `timeoutMs` (on the
 * election's clock, so simulations stay deterministic); that timeout becomes
 * a StoreUnavailableError: the write's outcome is unknown, as with any timeout.
 */
async function withAttemptTimeout<T>(
  signal: AbortSignal,
  timeoutMs: number | undefined,
  clock: Clock,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  if (timeoutMs === undefined) return call(signal);
  const d = deadlineSignal(signal, timeoutMs, clock);
  try {
    return await call(d.signal);
  } catch (err) {
    if (d.expired() && err instanceof AbortedError) throw new StoreUnavailableError(`write attempt abandoned after ${Math.round(timeoutMs)} ms`, { cause: err });
    throw err;
  } finally {
    d.clear();
  }
}

/**
 * Keeps a watch open on `key`, forwarding changes to the machine and
 * re-subscribing after errors. Returns the cleanup the machine calls on exit.
 */
function watchLoop(store: LeaseStore, input: WatchInput, sendBack: (e: MachineEvent) => void, clock: Clock): () => void {
  const { key, retryMs, steady } = input;
  const ac = new AbortController();
  void (async () => {
    while (!ac.signal.aborted) {
      try {
        for await (const entry of store.watch(key, { signal: ac.signal })) {
          // A steady leader's own renewals come back here: the machine would ignore them (`admit`).
          if (steady.admit(entry)) sendBack({ type: "STORE.CHANGE", entry });
        }
      } catch (error) {
        if (!ac.signal.aborted) {
          steady.flush();
          sendBack({ type: "STORE.WATCH_ERROR", error });
        }
      }
      if (!ac.signal.aborted) await sleep(retryMs, ac.signal, clock);
    }
  })();
  return () => ac.abort();
}

function isSubscriber(store: LeaseStore): store is LeaseStore & WatchSubscriber {
  return typeof (store as Partial<WatchSubscriber>).subscribe === "function";
}

/**
 * {@link watchLoop} on a store that calls back (the NATS store's shared
 * watch): the same events, without an iterator and its promises per election
 * and per entry (`watch-hub.ts`).
 */
function subscribeLoop(store: WatchSubscriber, input: WatchInput, sendBack: (e: MachineEvent) => void, timers: Timers): () => void {
  const { key, retryMs, steady } = input;
  let stopped = false;
  let cancel = () => {};
  const open = () => {
    cancel = store.subscribe(key, {
      entry: (entry) => {
        if (!stopped && steady.admit(entry)) sendBack({ type: "STORE.CHANGE", entry });
      },
      end: (error) => {
        if (stopped) return;
        steady.flush();
        sendBack({ type: "STORE.WATCH_ERROR", error });
        if (!stopped) cancel = timers.schedule(retryMs, open);
      },
    });
  };
  open();
  return () => {
    stopped = true;
    cancel();
  };
}

/** Deterministic term secrets for a simulated candidate (never used outside simulation). */
export function simulatedSecrets(id: string): () => string {
  let n = 0;
  return () => `sim-${id}-${++n}`;
}
