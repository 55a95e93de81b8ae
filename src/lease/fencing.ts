/**
 * The protected resource's half of fencing. A leader can be deposed while a
 * write of its is still in flight (a pause, a slow network): the resource
 * itself must refuse it. It remembers the highest token it has accepted and
 * rejects anything lower. Equal tokens are accepted: one term writes many times.
 *
 * The high-water marks must live as long as the resource: a guard that
 * forgets them on restart accepts a deposed leader's late write again. So a
 * guard can start from saved marks (`initial`, e.g. `export()` stored with the
 * resource) and report every rise (`onRaise`) so the resource persists it
 * together with the write it admits. The same marks, as `tokenFloor`, let a
 * lease store that lost its bucket keep tokens rising (docs/safety.md).
 */
import { ConfigError, StaleTokenError } from "../errors.js";

/** Options of {@link FencingGuard}. */
export interface FencingGuardOptions {
  /** High-water marks to start from, per resource (as saved from {@link FencingGuard.export}). */
  initial?: Readonly<Record<string, number>>;
  /**
   * Called when a resource's high-water mark rises, *before* the token is
   * admitted: persist it with the resource (ideally in the same transaction
   * as the write being admitted). If it throws, the token is not admitted
   * and the mark does not move.
   */
  onRaise?: (resource: string, token: number) => void;
}

function assertToken(field: string, token: number): void {
  if (!Number.isSafeInteger(token) || token < 0) throw new ConfigError(field, `must be a non-negative integer, got ${token}`);
}

/** Tracks the highest fencing token accepted per resource. */
export class FencingGuard {
  private readonly highest = new Map<string, number>();
  private readonly onRaise: ((resource: string, token: number) => void) | undefined;
  private rejectedCount = 0;

  constructor(opts: FencingGuardOptions = {}) {
    for (const [resource, token] of Object.entries(opts.initial ?? {})) {
      assertToken(`initial.${resource}`, token);
      this.highest.set(resource, token);
    }
    this.onRaise = opts.onRaise;
  }

  /**
   * Accepts `token` for `resource` if it is ≥ the highest seen (and records
   * it); returns false for a stale token.
   */
  accept(token: number, resource = "default"): boolean {
    assertToken("token", token);
    const h = this.highest.get(resource) ?? 0;
    if (token < h) {
      this.rejectedCount++;
      return false;
    }
    if (token > h) {
      this.onRaise?.(resource, token);
      this.highest.set(resource, token);
    }
    return true;
  }

  /** Like {@link accept} but throws {@link StaleTokenError}. */
  check(token: number, resource = "default"): void {
    if (!this.accept(token, resource)) throw new StaleTokenError(token, this.highest.get(resource) ?? 0);
  }

  /** Highest token accepted for `resource` (0 when none). */
  highestToken(resource = "default"): number {
    return this.highest.get(resource) ?? 0;
  }

  /** Highest token accepted for any resource: a `tokenFloor` for the lease store. */
  highestOverall(): number {
    let max = 0;
    for (const t of this.highest.values()) max = Math.max(max, t);
    return max;
  }

  /** Every high-water mark, to persist with the resource and pass back as `initial`. */
  export(): Record<string, number> {
    return Object.fromEntries(this.highest);
  }

  /** How many stale tokens were rejected. */
  get rejected(): number {
    return this.rejectedCount;
  }
}
