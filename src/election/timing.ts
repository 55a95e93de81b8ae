/**
 * Lease timing rules, validated once in the constructor (like client-go's
 * `NewLeaderElector`), so a bad configuration fails loudly at start instead
 * of quietly allowing overlap later.
 */
import { ConfigError } from "../errors.js";

/** Timing options of one election. All durations in milliseconds. */
export interface TimingOptions {
  /** Lease duration. A successor waits this long, on its own clock, watching one unchanged revision. Default 10 000. */
  leaseMs?: number;
  /** Renew interval. Default `leaseMs / 3`. */
  renewMs?: number;
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
}

/** Validated timing with derived values. */
export interface Timing {
  leaseMs: number;
  renewMs: number;
  maxDrift: number;
  marginMs: number;
  retryMs: number;
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
  const leaseMs = num(`${prefix}leaseMs`, opts.leaseMs ?? 10_000, 10, 24 * 3600_000);
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
  return { leaseMs, renewMs, maxDrift, marginMs, retryMs, validForMs };
}

const KEY_RE = /^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$/;

/** Validates a KV key (NATS KV key rules: tokens of `[-/_=a-zA-Z0-9]` separated by dots). */
export function validateKey(field: string, key: unknown): string {
  if (typeof key !== "string" || !KEY_RE.test(key) || key.length > 255) {
    throw new ConfigError(field, `must be a KV key of [-/_=a-zA-Z0-9] tokens separated by dots, got ${JSON.stringify(key)}`);
  }
  return key;
}

/** Validates a participant id: printable, 1–128 characters. */
export function validateId(field: string, id: unknown): string {
  if (typeof id !== "string" || id.length === 0 || id.length > 128 || /[\s\x00-\x1f]/.test(id)) {
    throw new ConfigError(field, `must be 1–128 printable characters without spaces, got ${JSON.stringify(id)}`);
  }
  return id;
}
