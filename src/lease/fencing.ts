/**
 * The protected resource's half of fencing. A leader can be deposed while a
 * write of its is still in flight (a pause, a slow network): the resource
 * itself must refuse it. It remembers the highest token it has accepted and
 * rejects anything lower. Equal tokens are accepted: one term writes many times.
 */
import { ConfigError, StaleTokenError } from "../errors.js";

/** Tracks the highest fencing token accepted per resource. */
export class FencingGuard {
  private readonly highest = new Map<string, number>();
  private rejectedCount = 0;

  /**
   * Accepts `token` for `resource` if it is ≥ the highest seen (and records
   * it); returns false for a stale token.
   */
  accept(token: number, resource = "default"): boolean {
    if (!Number.isSafeInteger(token) || token < 0) throw new ConfigError("token", `must be a non-negative integer, got ${token}`);
    const h = this.highest.get(resource) ?? 0;
    if (token < h) {
      this.rejectedCount++;
      return false;
    }
    this.highest.set(resource, token);
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

  /** How many stale tokens were rejected. */
  get rejected(): number {
    return this.rejectedCount;
  }
}
