/**
 * The scope moves the lease authority (quorum-authority.ts) was asked for, or
 * started itself (failback), and has not carried out yet: at most one per
 * scope, to one region, with the callers waiting on it. Kept apart from the
 * authority's decision procedure, which only asks where a scope should go
 * and says when it got there or why it never will.
 */
import type { Logger } from "../observability/logger.js";
import { AbortedError, RefusedError } from "../errors.js";
import type { MoveResult } from "./types.js";

/** A move not carried out yet, and who waits for it. */
export interface PendingMove {
  to: string;
  reason: "failback" | "manual";
  done: ((r: MoveResult) => void)[];
  fail: ((e: Error) => void)[];
}

export class PendingMoves {
  private readonly moves = new Map<string, PendingMove>();

  constructor(private readonly log: Logger) {}

  get(scope: string): PendingMove | undefined {
    return this.moves.get(scope);
  }

  /**
   * Waits for `scope` to be held in `to`: joins the move already pending
   * there, or supersedes one pending elsewhere (its waiters are refused).
   * `signal` ends this wait only (AbortedError); the move goes on, like a
   * request whose answer nobody reads. Registers at once, before it returns.
   */
  wait(scope: string, to: string, reason: PendingMove["reason"], signal?: AbortSignal): Promise<MoveResult> {
    return new Promise((resolve, reject) => {
      const aborted = () => {
        const q = this.moves.get(scope);
        if (q) [q.done, q.fail] = [q.done.filter((f) => f !== done), q.fail.filter((f) => f !== fail)];
        reject(new AbortedError(`move of ${scope} to ${to} aborted`, { cause: signal?.reason }));
      };
      const done = (r: MoveResult) => (signal?.removeEventListener("abort", aborted), resolve(r));
      const fail = (e: Error) => (signal?.removeEventListener("abort", aborted), reject(e));
      signal?.addEventListener("abort", aborted, { once: true });
      const p = this.moves.get(scope);
      if (p && p.to === to) {
        p.done.push(done);
        p.fail.push(fail);
      } else {
        if (p) this.abandon(scope, `superseded by a move to ${to}`);
        this.moves.set(scope, { to, reason, done: [done], fail: [fail] });
      }
    });
  }

  /** The authority's own move of a scope back home, unless one is pending already. */
  failback(scope: string): void {
    if (!this.moves.has(scope)) this.moves.set(scope, { to: scope, reason: "failback", done: [], fail: [] });
  }

  /** The pending move of `r.scope` is carried out: its waiters get `r`. */
  arrived(r: MoveResult): void {
    const p = this.moves.get(r.scope);
    if (!p) return;
    this.moves.delete(r.scope);
    for (const done of p.done) done({ ...r });
  }

  /** Gives up the pending move of `scope`: its waiters are refused with `why`. */
  abandon(scope: string, why: string): void {
    const p = this.moves.get(scope);
    if (!p) return;
    this.moves.delete(scope);
    this.log.info({ scope, to: p.to, why }, "scope move abandoned");
    for (const f of p.fail) f(new RefusedError(`move of ${scope} to ${p.to} abandoned: ${why}`));
  }

  /** Gives up every pending move. */
  abandonAll(why: string): void {
    for (const scope of [...this.moves.keys()]) this.abandon(scope, why);
  }
}
