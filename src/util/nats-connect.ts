/**
 * Connecting to NATS the way every regent process does (nodes, the CLI,
 * drills, benchmarks): endless reconnects, credentials from {@link NatsAuth},
 * and no URL with a password in an error message.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AbortedError, StoreUnavailableError } from "../errors.js";
import { natsAuthOptions, redactUrl, type NatsAuth } from "./nats-auth.js";
import { sleep } from "./timers.js";

/** Connects with endless reconnects: a NATS outage is a state to ride out, not an exit. */
export async function connectNats(servers: string[], name: string, opts: { timeoutMs?: number; auth?: NatsAuth } = {}): Promise<NatsConnection> {
  // Bad credential settings are a ConfigError, before any connection attempt.
  const auth = natsAuthOptions(opts.auth ?? {});
  const timeoutMs = opts.timeoutMs ?? 5_000;
  try {
    return await connect({
      ...auth,
      servers,
      name,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 5_000,
      maxPingOut: 2,
      timeout: timeoutMs,
      // Stack traces for every request cost ~10 % CPU at scale (profiled).
      noAsyncTraces: true,
    });
  } catch (err) {
    // URLs may carry user:password; the message goes to stderr and logs.
    throw new StoreUnavailableError(`cannot connect to NATS at ${servers.map(redactUrl).join(",")}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * {@link connectNats} that waits for the first connection instead of failing:
 * a node started before its servers (boot order, an outage) retries with
 * backoff (250 ms doubling to 5 s), reporting each failure through
 * `onRetry`, until it connects or `signal` aborts (then {@link AbortedError}).
 * Bad credential settings still fail at once: retrying cannot fix a file.
 */
export async function connectNatsWaiting(
  servers: string[],
  name: string,
  opts: { auth?: NatsAuth; signal: AbortSignal; onRetry: (err: Error, attempt: number, delayMs: number) => void },
): Promise<NatsConnection> {
  natsAuthOptions(opts.auth ?? {}); // throws the ConfigError before any attempt
  for (let attempt = 1; ; attempt++) {
    if (opts.signal.aborted) throw new AbortedError("stopped while waiting for NATS");
    const pending = connectNats(servers, name, opts.auth ? { auth: opts.auth } : {});
    let nc: NatsConnection | undefined;
    try {
      nc = await abortable(pending, opts.signal);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) {
        // Aborted mid-attempt: a connection made after all must not linger.
        void pending.then((late) => late.close(), () => undefined);
        throw err;
      }
      const delayMs = Math.min(5_000, 250 * 2 ** Math.min(attempt - 1, 5));
      opts.onRetry(err, attempt, delayMs);
      await sleep(delayMs, opts.signal);
    }
    if (nc) return nc;
  }
}

/** `p`, or {@link AbortedError} as soon as `signal` fires. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError("stopped while waiting for NATS"));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
