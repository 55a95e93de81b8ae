/**
 * Shared CLI plumbing: argument parsers that fail with clear messages, the
 * NATS server list and credentials from `--servers`/`NATS_URL` and the nats
 * CLI's options, and signal handling. Connecting is util/nats-connect.ts.
 */
import { InvalidArgumentError, Option, type Command } from "commander";
import { NATS_AUTH_ENV, type NatsAuth } from "../util/nats-auth.js";

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
