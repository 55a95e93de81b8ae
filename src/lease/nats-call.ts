/**
 * Runs NATS client calls for {@link NatsLeaseStore} under a deadline and an
 * abort signal, and maps client errors to regent errors:
 * - JetStream API error 10071/10164 "wrong last sequence" -> ConflictError;
 * - stream not found (10059) -> BucketMissingError;
 * - everything else (timeouts, no responders, disconnects, 503, stream-leader
 *   elections) -> StoreUnavailableError with the client error as `cause`.
 */
import { AbortedError, BucketMissingError, ConflictError, RegentError, StoreUnavailableError, throwIfAborted } from "../errors.js";

export const WRONG_LAST_SEQUENCE = new Set([10071, 10164]);
export const STREAM_NOT_FOUND = 10059;

export function apiCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return (err as Error | null)?.name?.endsWith("Error") && typeof code === "number" ? code : undefined;
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The bucket's stream does not exist (any form the client reports it in). */
export function isStreamNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "BUCKET_MISSING" || apiCode(err) === STREAM_NOT_FOUND || /stream not found/i.test(message(err));
}

export function isNoResponders(err: unknown): boolean {
  return (err as Error | null)?.name === "JetStreamNotEnabled" || /no responders/i.test(message(err));
}

/** Context used to build a precise error. */
export interface ErrContext {
  op: string;
  key?: string;
  expected?: number;
}

/** Thrown inside a guarded call when the deadline passes; mapped to StoreUnavailableError. */
class DeadlineError extends Error {}

export function isWrongSequence(err: unknown): boolean {
  const code = apiCode(err);
  return (code !== undefined && WRONG_LAST_SEQUENCE.has(code)) || /wrong last sequence/i.test(message(err));
}

/** Maps a client error to a regent error. */
function mapError(ctx: ErrContext, bucket: string, err: unknown): RegentError {
  if (err instanceof RegentError) return err;
  const code = apiCode(err);
  const msg = message(err);
  if ((code !== undefined && WRONG_LAST_SEQUENCE.has(code)) || /wrong last sequence/i.test(msg)) {
    return new ConflictError(ctx.key ?? "", ctx.expected ?? 0, { cause: err });
  }
  if (code === STREAM_NOT_FOUND || /stream not found/i.test(msg)) return new BucketMissingError(bucket, { cause: err });
  return new StoreUnavailableError(`${ctx.op} on ${bucket}: ${msg}`, { cause: err });
}

/**
 * Runs `fn` with a deadline and an abort signal. The underlying client call
 * cannot be cancelled, so when the deadline or the abort wins, its eventual
 * outcome is swallowed (never an unhandled rejection) and a late success is
 * handed to `onLate` for cleanup.
 */
export async function guard<T>(
  ctx: ErrContext,
  bucket: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  fn: () => Promise<T>,
  onLate?: (v: T) => void,
): Promise<T> {
  throwIfAborted(signal);
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError()), timeoutMs);
    onAbort = () => reject(new AbortedError(`${ctx.op} on ${bucket} aborted`, { cause: signal?.reason }));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  const work = Promise.resolve().then(fn);
  work.then(
    (v) => {
      if (settled && onLate) onLate(v);
    },
    () => undefined,
  );
  try {
    return await Promise.race([work, stop]);
  } catch (err) {
    if (err instanceof AbortedError) throw err;
    if (err instanceof DeadlineError) {
      throw new StoreUnavailableError(`${ctx.op} on ${bucket} timed out after ${timeoutMs} ms`);
    }
    throw mapError(ctx, bucket, err);
  } finally {
    settled = true;
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}
