/**
 * The secrets of a secured deployment, made locally: a CA and one server
 * certificate (openssl), and an nkey per identity of `topology/access.ts`.
 * `regent up` makes them in its run's temporary directory; `regent compose`
 * keeps them in `deploy/secrets/` (never committed) and only adds what is
 * missing, so re-running it does not invalidate running containers' keys.
 *
 * Layout under the root:
 *   ca/ca.pem, ca/ca-key.pem        the CA (its key signs server certificates)
 *   nats/ca.pem, server.pem, server-key.pem, nkeys.conf
 *                                   what a nats-server needs (public keys only)
 *   clients/ca.pem, <identity>.nk   what clients need (each seed file is 0600)
 *
 * One server certificate serves every server (SANs: every server hostname,
 * localhost, 127.0.0.1) and is also the route and gateway client certificate.
 */
import { execFile } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { nkeys } from "@nats-io/transport-node";
import { ConfigError } from "../errors.js";
import { nkeyVariable, SERVER_CERT_SUBJECT, type Identity } from "../topology/access.js";

const run = promisify(execFile);

export interface SecretsSpec {
  identities: Identity[];
  /** DNS names the server certificate must cover (IP 127.0.0.1 and localhost are always added). */
  hostnames: string[];
  /** Validity of new certificates, days (default 825). */
  days?: number;
}

/** Absolute paths of a deployment's secrets. */
export interface Secrets {
  root: string;
  server: { ca: string; cert: string; key: string; nkeysConf: string };
  client: { ca: string };
  /** Identity name → seed file. */
  seedFile(identity: string): string;
  /** Identity name → public nkey. */
  publicKey(identity: string): string;
}

export function secretsAt(dir: string): Secrets {
  const root = resolve(dir); // openssl runs in the CA directory
  const nats = join(root, "nats");
  const clients = join(root, "clients");
  return {
    root,
    server: { ca: join(nats, "ca.pem"), cert: join(nats, "server.pem"), key: join(nats, "server-key.pem"), nkeysConf: join(nats, "nkeys.conf") },
    client: { ca: join(clients, "ca.pem") },
    seedFile: (name) => join(clients, `${name}.nk`),
    publicKey: (name) => {
      const file = join(clients, `${name}.nk`);
      if (!existsSync(file)) throw new ConfigError("secrets", `no nkey for ${name} in ${clients}`);
      return nkeys.fromSeed(new TextEncoder().encode(readFileSync(file, "utf8").trim())).getPublicKey();
    },
  };
}

async function openssl(args: string[], cwd: string, signal?: AbortSignal): Promise<void> {
  try {
    await run("openssl", args, { cwd, ...(signal ? { signal } : {}) });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") throw new ConfigError("openssl", "openssl not found; install it (apt-get install openssl) to make the deployment's certificates");
    throw new ConfigError("openssl", `openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim().split("\n").slice(-2).join(" ")}`);
  }
}

/**
 * Makes whatever is missing: the CA, a server certificate covering
 * `spec.hostnames` (made again when the names changed), a seed per identity,
 * and `nkeys.conf` (one config variable per identity's public key).
 */
export async function ensureSecrets(root: string, spec: SecretsSpec, opts: { signal?: AbortSignal } = {}): Promise<Secrets> {
  const s = secretsAt(root);
  const ca = join(s.root, "ca");
  for (const d of [ca, join(s.root, "nats"), join(s.root, "clients")]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const days = String(spec.days ?? 825);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const caCert = join(ca, "ca.pem");
  let newCa = false;
  if (!existsSync(caCert) || !existsSync(join(ca, "ca-key.pem"))) {
    await openssl(["req", "-x509", ...ec, "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", days, "-subj", "/CN=regent deployment CA"], ca, opts.signal);
    chmodSync(join(ca, "ca-key.pem"), 0o600);
    newCa = true;
  }
  copyFileSync(caCert, s.server.ca);
  copyFileSync(caCert, s.client.ca);

  const sans = ["DNS:localhost", "IP:127.0.0.1", ...[...new Set(spec.hostnames)].sort().map((h) => `DNS:${h}`)].join(",");
  const sansFile = join(s.root, "nats", "server.sans");
  const haveSans = existsSync(sansFile) ? readFileSync(sansFile, "utf8") : "";
  if (newCa || haveSans !== sans || !existsSync(s.server.cert) || !existsSync(s.server.key)) {
    const ext = join(ca, "server.ext");
    // serverAuth for clients, clientAuth because routes and gateways present it too.
    writeFileSync(ext, `subjectAltName=${sans}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n`);
    const subj = "/" + SERVER_CERT_SUBJECT.split(",").join("/");
    await openssl(["req", ...ec, "-keyout", s.server.key, "-out", join(ca, "server.csr"), "-subj", subj], ca, opts.signal);
    await openssl(["x509", "-req", "-in", join(ca, "server.csr"), "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-out", s.server.cert, "-days", days, "-extfile", ext], ca, opts.signal);
    chmodSync(s.server.key, 0o600);
    writeFileSync(sansFile, sans);
  }

  for (const id of spec.identities) {
    const file = s.seedFile(id.name);
    if (existsSync(file)) continue;
    writeFileSync(file, new TextDecoder().decode(nkeys.createUser().getSeed()) + "\n", { mode: 0o600 });
  }
  // Public keys only: this file goes to the servers.
  const vars = spec.identities.map((id) => `${nkeyVariable(id)}: ${JSON.stringify(s.publicKey(id.name))}`);
  writeFileSync(s.server.nkeysConf, `# Public nkeys of the deployment's identities (made by regent; seeds are in ../clients).\n${vars.join("\n")}\n`);
  return s;
}
