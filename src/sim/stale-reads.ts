/**
 * "Stale reads after an outage": the fault a JetStream stream-leader change
 * can show on an R3 bucket. A new leader that has not applied the latest
 * entries yet answers a `get` with an older version of the key, and refuses a
 * conditional write that expects a revision it has not seen (a spurious
 * conflict: the key is at the expected revision, the lagging leader does not
 * know it). The store itself stays linearizable: a write the lagging view
 * would allow but the real state does not still fails.
 *
 * Every write through a {@link SimLink} is remembered here per store and key,
 * in true (scheduler) time, so a lagging window can answer from the state as
 * of the moment the outage began.
 */
import type { StoreEntry } from "../lease/store.js";

interface Lag {
  /** True time of the state the lagging leader has applied. */
  asOf: number;
  /** True time the window closes. */
  until: number;
}

export class StaleReads {
  private readonly history = new Map<string, Map<string, { at: number; entry: StoreEntry }[]>>();
  private readonly lags = new Map<string, Lag>();

  constructor(
    private readonly now: () => number,
    private readonly random: () => number,
  ) {}

  /** Opens a window on `store` until `until`, answering from the state at `asOf`. */
  lag(store: string, asOf: number, until: number): void {
    this.lags.set(store, { asOf, until });
  }

  /** A write landed (called at its linearization point). */
  remember(store: string, entry: StoreEntry): void {
    let byKey = this.history.get(store);
    if (!byKey) this.history.set(store, (byKey = new Map()));
    const list = byKey.get(entry.key) ?? [];
    list.push({ at: this.now(), entry });
    // A window only ever looks back to one outage start: a few versions suffice.
    if (list.length > 16) list.shift();
    byKey.set(entry.key, list);
  }

  private lagging(store: string): Lag | undefined {
    const l = this.lags.get(store);
    if (l && this.now() >= l.until) this.lags.delete(store);
    return this.lags.get(store);
  }

  /** The version a lagging leader knows, when a window is open and that version is older than `current`. */
  private lagged(store: string, key: string, current: number): StoreEntry | null | undefined {
    const l = this.lagging(store);
    if (!l) return undefined;
    const list = this.history.get(store)?.get(key);
    if (!list) return undefined;
    let known: StoreEntry | undefined;
    for (const h of list) if (h.at <= l.asOf) known = h.entry;
    if (!known || known.revision >= current) return undefined;
    return known;
  }

  /** For `get`: a stale answer half of the time in a window, else undefined (answer normally). */
  staleGet(store: string, key: string, current: StoreEntry | null): StoreEntry | null | undefined {
    if (!current) return undefined;
    const known = this.lagged(store, key, current.revision);
    if (known === undefined || known === null || this.random() >= 0.5) return undefined;
    return { ...known, value: new Uint8Array(known.value) };
  }

  /** For a conditional write expecting `expected`: refuse it (half of the time) when the lagging leader has not seen it. */
  spuriousConflict(store: string, key: string, expected: number): boolean {
    const list = this.history.get(store)?.get(key);
    const current = list?.[list.length - 1]?.entry.revision ?? 0;
    const known = this.lagged(store, key, current);
    if (!known || known.revision === expected) return false;
    return this.random() < 0.5;
  }
}
