/**
 * Lease timing rules, validated once in the constructor (like client-go's
 * `NewLeaderElector`), so a bad configuration fails loudly at start instead
 * of quietly allowing overlap later.
 */
import { ConfigError } from "../errors.js";
import { MAX_LEASE_MS } from "../wire/lease-record.js";

/** Timing options of one election. All durations in milliseconds. */
export interface TimingOptions {
  /** Lease duration. A successor waits this long, on its own clock, watching one unchanged revision. Default 10 000. */
  leaseMs?: number;
  /** Renew interval. Default `leaseMs / 3`. */
  renewMs?: number;
  /**
   * The longest lease any candidate of this lease may run with: during a
   * change of lease lengths (a rolling restart), the longest one in use.
   * A state that names no lease (a vacant key, a recreated bucket's genesis
   * placeholder) is waited out this long, so a candidate that never saw the
   * last holder's record (it started after the bucket was lost) cannot cut
   * a longer lease short. Default `leaseMs`, at least `leaseMs`.
   */
  maxLeaseMs?: number;
  /**
   * Bound on clock *rate* drift between any two participants, as a fraction
   * (0.01 = while one clock measures 1 s, another measures at least 0.99 s).
   * The only timing assumption regent makes. Default 0.01.
   */
  maxDrift?: number;
  /** Safety margin subtracted from the holder's validity, covering timer lateness. Default max(25, 2 % of lease). */
  marginMs?: number;
  /** Base delay between retries after store errors; jittered. Default min(250, renewMs / 4). */
  retryMs?: number;
  /**
   * Longest one lease write (acquire, takeover, renewal) may take before it is
   * abandoned as "outcome unknown" and retried. Must satisfy
   * `validFor ≥ renewMs + 2 × (attemptMs + retryMs)`: the first renewal, sent
   * up to renewMs after the last successful write, may hang for a whole
   * attempt and still leave a retry before the deadline. Default: the largest
   * value that satisfies it, at most 2000 (the NATS store's own timeout).
   */
  attemptMs?: number;
}

/** Validated timing with derived values. */
export interface Timing {
  leaseMs: number;
  /** See {@link TimingOptions.maxLeaseMs}; at least `leaseMs`. */
  maxLeaseMs: number;
  renewMs: number;
  maxDrift: number;
  marginMs: number;
  retryMs: number;
  attemptMs: number;
  /** Holder validity after a successful write: lease × (1 − maxDrift) − margin, counted from the send. */
  validForMs: number;
}

function num(field: string, v: unknown, min: number, max = Number.POSITIVE_INFINITY): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ConfigError(field, `must be a finite number, got ${String(v)}`);
  if (v < min || v > max) throw new ConfigError(field, `must be in [${min}, ${max}], got ${v}`);
  return v;
}

/** Validates timing options and derives the holder's validity. Throws {@link ConfigError}. */
export function resolveTiming(opts: TimingOptions = {}, prefix = ""): Timing {
  const leaseMs = num(`${prefix}leaseMs`, opts.leaseMs ?? 10_000, 10, MAX_LEASE_MS);
  const renewMs = num(`${prefix}renewMs`, opts.renewMs ?? Math.floor(leaseMs / 3), 1);
  const maxDrift = num(`${prefix}maxDrift`, opts.maxDrift ?? 0.01, 0, 0.2);
  const marginMs = num(`${prefix}marginMs`, opts.marginMs ?? Math.max(25, Math.round(leaseMs * 0.02)), 0);
  const retryMs = num(`${prefix}retryMs`, opts.retryMs ?? Math.max(1, Math.min(250, Math.floor(renewMs / 4))), 1);
  const validForMs = leaseMs * (1 - maxDrift) - marginMs;
  // Two renew attempts must fit in one validity period, or a single slow
  // write would depose a healthy leader.
  if (validForMs < 2 * renewMs) {
    throw new ConfigError(
      `${prefix}renewMs`,
      `lease × (1 − maxDrift) − margin (${validForMs.toFixed(1)} ms) must be at least 2 × renewMs (${2 * renewMs} ms); ` +
        `lower renewMs or marginMs, or raise leaseMs`,
    );
  }
  if (retryMs >= renewMs) throw new ConfigError(`${prefix}retryMs`, `must be below renewMs (${renewMs} ms)`);
  // One attempt that never answers (a lost request or ack) must not cost the
  // term: the first renewal is sent up to renewMs after the last successful
  // write; if it hangs for a whole attempt, a retry (after at most retryMs)
  // still gets a whole attempt before the deadline.
  const room = Math.floor((validForMs - renewMs) / 2 - retryMs);
  const attemptMs = num(`${prefix}attemptMs`, opts.attemptMs ?? Math.min(2_000, Math.max(1, room)), 1);
  if (renewMs + 2 * (attemptMs + retryMs) > validForMs) {
    const field = opts.attemptMs !== undefined ? "attemptMs" : opts.retryMs !== undefined ? "retryMs" : "renewMs";
    throw new ConfigError(
      `${prefix}${field}`,
      `lease × (1 − maxDrift) − margin (${validForMs.toFixed(1)} ms) must be at least renewMs + 2 × (attemptMs + retryMs) ` +
        `(${renewMs + 2 * (attemptMs + retryMs)} ms), so that a renewal attempt that never answers leaves room for a retry; ` +
        `lower renewMs, retryMs or attemptMs, or raise leaseMs`,
    );
  }
  const maxLeaseMs = num(`${prefix}maxLeaseMs`, opts.maxLeaseMs ?? leaseMs, leaseMs, MAX_LEASE_MS);
  return { leaseMs, maxLeaseMs, renewMs, maxDrift, marginMs, retryMs, attemptMs, validForMs };
}

/**
 * Deadline of one renewal attempt when `leftMs` of validity remain: at most
 * `attemptMs`, and short enough to leave room before the deadline for a
 * backoff (at most retryMs, and at most a quarter of what is left) and
 * another attempt as long. The rule in {@link resolveTiming} makes the first
 * renewal's attempt the whole `attemptMs`.
 */
export function attemptTimeoutMs(t: Timing, leftMs: number): number {
  return Math.max(1, Math.min(t.attemptMs, Math.max(leftMs / 3, (leftMs - t.retryMs) / 2)));
}

/** Validates a participant id: printable, 1–128 characters. */
export function validateId(field: string, id: unknown): string {
  if (typeof id !== "string" || id.length === 0 || id.length > 128 || /[\s\x00-\x1f]/.test(id)) {
    throw new ConfigError(field, `must be 1–128 printable characters without spaces, got ${JSON.stringify(id)}`);
  }
  return id;
}
