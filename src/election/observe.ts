/**
 * Observing an election without standing in it. A watch is only a hint (a v3
 * watch opened from another cluster was measured to miss ~0.9 s of updates),
 * so every (re)subscription is followed by a `get`, and a periodic `get`
 * reconciles whatever the watch missed.
 */
import type { LeaseStore, StoreEntry } from "../lease/store.js";
import { viewOf } from "../lease/record.js";
import { validateKey } from "../lease/keys.js";

/** What an observer knows about an election's leader. */
export interface LeaderInfo {
  /** `held`, `released`, `vacant`, or `unknown` for an undecodable record. */
  state: "held" | "released" | "vacant" | "unknown";
  /** Holder id when held (or last holder when released); `null` otherwise. */
  leader: string | null;
  /** Fencing token of the current or last term; `null` when vacant or unknown. */
  token: number | null;
  /** Store revision this was read at. */
  revision: number;
  /** Holder's record metadata (region, address…), when decodable. */
  meta?: Record<string, string>;
  /** Wall-clock ms of the holder's last write, as the holder's clock read it. Display only. */
  renewedAt?: number;
}

/** Options of {@link observe}. */
export interface ObserveOptions {
  /** Ends the iteration. */
  signal?: AbortSignal;
  /** Period of reconciling `get`s, ms. Default 1000. */
  reconcileMs?: number;
}

function info(entry: StoreEntry | null): LeaderInfo {
  const v = viewOf(entry);
  switch (v.state) {
    case "held":
    case "released": {
      const i: LeaderInfo = { state: v.state, leader: v.holder, token: v.token, revision: v.revision, renewedAt: v.record.renewedAt };
      if (v.record.meta) i.meta = v.record.meta;
      return i;
    }
    default:
      return { state: v.state, leader: null, token: null, revision: v.revision };
  }
}

/**
 * Yields the current leader of `key`, then every change (in revision order,
 * never going backwards), until `opts.signal` fires. Store outages are
 * retried quietly; the iterator never throws for them.
 */
export async function* observe(store: LeaseStore, key: string, opts: ObserveOptions = {}): AsyncGenerator<LeaderInfo> {
  validateKey("key", key);
  const reconcileMs = opts.reconcileMs ?? 1000;
  const outer = opts.signal;
  const queue: (StoreEntry | null)[] = [];
  let wake: (() => void) | null = null;
  const push = (e: StoreEntry | null) => {
    queue.push(e);
    wake?.();
  };
  const ac = new AbortController();
  const stop = () => ac.abort();
  outer?.addEventListener("abort", stop);
  if (outer?.aborted) ac.abort();

  const reconcile = async () => {
    try {
      push(await store.get(key, { signal: ac.signal }));
    } catch {
      /* retried on the next tick */
    }
  };
  const timer = setInterval(() => void reconcile(), reconcileMs);
  timer.unref?.();
  const watching = (async () => {
    while (!ac.signal.aborted) {
      try {
        const it = store.watch(key, { signal: ac.signal });
        void reconcile();
        for await (const e of it) push(e);
      } catch {
        /* resubscribe below */
      }
      if (!ac.signal.aborted) await new Promise((r) => setTimeout(r, Math.min(reconcileMs, 250)));
    }
  })();

  let last: LeaderInfo | null = null;
  try {
    for (;;) {
      while (queue.length) {
        const next = info(queue.shift() ?? null);
        if (last && next.revision < last.revision) continue;
        if (last && next.revision === last.revision && next.state === last.state) continue;
        last = next;
        yield next;
      }
      if (ac.signal.aborted) return;
      await new Promise<void>((r) => {
        wake = r;
        ac.signal.addEventListener("abort", () => r(), { once: true });
      });
      wake = null;
    }
  } finally {
    clearInterval(timer);
    ac.abort();
    outer?.removeEventListener("abort", stop);
    await watching;
  }
}

/** One-shot read of the current leader. */
export async function currentLeader(store: LeaseStore, key: string, opts: { signal?: AbortSignal } = {}): Promise<LeaderInfo> {
  validateKey("key", key);
  return info(await store.get(key, opts));
}
