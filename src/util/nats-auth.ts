/**
 * The usual NATS client credentials and TLS files, as connection options:
 * what the CLI's `--creds`, `--nkey`, `--user/--password` and
 * `--tls-ca/--tls-cert/--tls-key` (and the nats CLI's environment variables)
 * turn into. Secrets are read from files where NATS has a file form, and no
 * message built here contains a secret: only paths and user names.
 */
import { readFileSync } from "node:fs";
import { credsAuthenticator, nkeyAuthenticator, type NodeConnectionOptions } from "@nats-io/transport-node";
import { ConfigError } from "../errors.js";

/** Client credentials; every field is optional (an open server needs none). */
export interface NatsAuth {
  /** Path of a `.creds` file (user JWT and seed; operator-mode deployments). */
  creds?: string;
  /** Path of a file holding an nkey seed (`SU…`); regent's generated identities. */
  nkey?: string;
  user?: string;
  password?: string;
  /** CA certificate(s) that signed the servers' certificates (PEM file). */
  tlsCa?: string;
  /** Client certificate and key, for servers that verify clients (PEM files). */
  tlsCert?: string;
  tlsKey?: string;
}

/** Environment variable of each field, the nats CLI's names. */
export const NATS_AUTH_ENV = {
  creds: "NATS_CREDS",
  nkey: "NATS_NKEY",
  user: "NATS_USER",
  password: "NATS_PASSWORD",
  tlsCa: "NATS_CA",
  tlsCert: "NATS_CERT",
  tlsKey: "NATS_KEY",
} as const satisfies Record<keyof NatsAuth, string>;

/** Fields set in `env` (empty values count as unset). */
export function natsAuthFromEnv(env: NodeJS.ProcessEnv = process.env): NatsAuth {
  const out: NatsAuth = {};
  for (const [field, name] of Object.entries(NATS_AUTH_ENV) as [keyof NatsAuth, string][]) {
    const v = env[name];
    if (v) out[field] = v;
  }
  return out;
}

function readSecretFile(field: string, path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(field, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

/** Connection options for `auth`; throws {@link ConfigError} for contradictory or unreadable settings. */
export function natsAuthOptions(auth: NatsAuth): Pick<NodeConnectionOptions, "authenticator" | "user" | "pass" | "tls"> {
  const out: Pick<NodeConnectionOptions, "authenticator" | "user" | "pass" | "tls"> = {};
  const kinds = [auth.creds && "--creds", auth.nkey && "--nkey", (auth.user || auth.password) && "--user/--password"].filter(Boolean);
  if (kinds.length > 1) throw new ConfigError("credentials", `give one of --creds, --nkey or --user/--password, not ${kinds.join(" and ")}`);
  if (auth.creds) out.authenticator = credsAuthenticator(readSecretFile("--creds", auth.creds));
  if (auth.nkey) {
    const seed = new TextDecoder().decode(readSecretFile("--nkey", auth.nkey)).trim();
    if (!/^S[A-Z2-7]{57}$/.test(seed)) throw new ConfigError("--nkey", `${auth.nkey} does not hold an nkey seed`);
    out.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (auth.user || auth.password) {
    if (!auth.user) throw new ConfigError("--password", "needs --user (or NATS_USER)");
    out.user = auth.user;
    if (auth.password !== undefined) out.pass = auth.password;
  }
  if (!!auth.tlsCert !== !!auth.tlsKey) throw new ConfigError(auth.tlsCert ? "--tls-key" : "--tls-cert", "--tls-cert and --tls-key go together");
  if (auth.tlsCa || auth.tlsCert) {
    out.tls = {
      ...(auth.tlsCa ? { caFile: auth.tlsCa } : {}),
      ...(auth.tlsCert ? { certFile: auth.tlsCert, keyFile: auth.tlsKey! } : {}),
    };
  }
  return out;
}

/** `url` without a password (`nats://user:secret@host` → `nats://user:***@host`), for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/)([^@/\s]*)@/i, (_, scheme: string, userinfo: string) => {
    const i = userinfo.indexOf(":");
    return `${scheme}${i < 0 ? "***" : `${userinfo.slice(0, i)}:***`}@`;
  });
}
