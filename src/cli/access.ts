/**
 * `regent access`: the nats-server configuration that secures an existing
 * NATS deployment for regent, derived from regions/ exactly as `regent up`
 * and `regent compose` derive theirs (topology/access.ts): the account with
 * one nkey user per identity and its permissions, TLS, and what goes inside
 * `cluster {}` and `gateway {}`. With `--secrets <dir>` it also makes (or
 * completes) the CA, the server certificate and the nkeys there.
 */
import { ensureSecrets } from "../launcher/secrets.js";
import { identitiesOf, nkeyVariable, serverAccessConf } from "../topology/access.js";
import { loadTopology } from "../topology/load.js";

export interface AccessCliOptions {
  regions: string;
  /** The deployment's mode: full mode writes each region's per-server regional buckets (default light). */
  mode?: "light" | "full";
  secrets?: string;
  hostname?: string[];
}

export async function runAccess(opts: AccessCliOptions): Promise<void> {
  const topo = loadTopology(opts.regions);
  const conf = serverAccessConf(topo, {
    tls: { ca: "secrets/ca.pem", cert: "secrets/server.pem", key: "secrets/server-key.pem" },
    nkey: (id) => `$${nkeyVariable(id)}`,
    preamble: ["# Defines one REGENT_NKEY_* variable per identity (public keys only).", `include "secrets/nkeys.conf"`],
  }, opts.mode ?? "light");
  const out = [
    `# regent access for deployment "${topo.cluster}" (${opts.regions}, ${opts.mode ?? "light"} mode); see docs/security.md.`,
    "# Top level of every server's config:",
    ...conf.top,
    "# Inside cluster { … } and gateway { … } of every server:",
    ...conf.cluster.map((l) => `#${l}`),
  ];
  process.stdout.write(out.join("\n") + "\n");
  if (opts.secrets) {
    const s = await ensureSecrets(opts.secrets, { identities: identitiesOf(topo), hostnames: opts.hostname ?? [] }, { signal: AbortSignal.timeout(30_000) });
    process.stderr.write(`secrets in ${s.root}: servers need nats/, each client its own clients/<identity>.nk and clients/ca.pem\n`);
  }
}
