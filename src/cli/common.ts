/**
 * Shared CLI plumbing: argument parsers that fail with clear messages, NATS
 * connection from `--servers`/`NATS_URL`, and signal handling.
 */
import { InvalidArgumentError, Option, type Command } from "commander";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AbortedError, StoreUnavailableError } from "../errors.js";
import { NATS_AUTH_ENV, natsAuthOptions, redactUrl, type NatsAuth } from "../util/nats-auth.js";
import { sleep } from "../util/timers.js";

/** Parses a positive integer number of milliseconds. */
export function parseMs(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError(`expected a positive whole number of milliseconds, got "${value}"`);
  }
  return n;
}

/** Parses a positive integer count. */
export function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n <= 0 || n > 1000) throw new InvalidArgumentError(`expected a whole number from 1 to 1000, got "${value}"`);
  return n;
}

/** Parses a fraction in [0, 0.2]. */
export function parseDrift(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 0.2) throw new InvalidArgumentError(`expected a fraction from 0 to 0.2, got "${value}"`);
  return n;
}

/** Server list from `--servers` (comma separated) or `NATS_URL`; default local 4222. */
export function serverList(flag?: string): string[] {
  const raw = flag ?? process.env.NATS_URL ?? "nats://127.0.0.1:4222";
  const list = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw new InvalidArgumentError("--servers: at least one URL is required");
  for (const s of list) {
    if (!/^(nats|tls|ws|wss):\/\/[^\s]+$|^[\w.-]+:\d+$/.test(s)) throw new InvalidArgumentError(`--servers: not a NATS URL: "${s}"`);
  }
  return list;
}

/**
 * The nats CLI's connection options, each also read from its environment
 * variable. Help shows the variable's name, never a value (commander prints
 * defaults, and none is set here).
 */
export function addAuthOptions(cmd: Command): Command {
  const opts: [string, keyof NatsAuth, string][] = [
    ["--creds <file>", "creds", "user credentials file (JWT and seed)"],
    ["--nkey <file>", "nkey", "file holding an nkey seed (regent up and compose make one per identity)"],
    ["--user <user>", "user", "user name"],
    ["--password <password>", "password", "password (prefer the environment variable: arguments are visible to other local users)"],
    ["--tls-ca <file>", "tlsCa", "CA certificate that signed the servers' certificates"],
    ["--tls-cert <file>", "tlsCert", "client certificate, for servers that verify clients"],
    ["--tls-key <file>", "tlsKey", "client certificate's key"],
  ];
  for (const [flags, field, help] of opts) cmd.addOption(new Option(flags, help).env(NATS_AUTH_ENV[field]));
  return cmd;
}

/** The {@link NatsAuth} fields of parsed command options. */
export function authOf(o: NatsAuth): NatsAuth {
  const out: NatsAuth = {};
  for (const k of Object.keys(NATS_AUTH_ENV) as (keyof NatsAuth)[]) if (typeof o[k] === "string") out[k] = o[k];
  return out;
}

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

/** Runs `onSignal` once on the first SIGINT/SIGTERM; a second one exits at once. */
export function onShutdown(onSignal: (sig: NodeJS.Signals) => Promise<void> | void): void {
  let shuttingDown = false;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      if (shuttingDown) process.exit(130);
      shuttingDown = true;
      void Promise.resolve(onSignal(sig)).finally(() => process.exit(0));
    });
  }
}
