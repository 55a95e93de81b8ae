/**
 * `regent compose`: writes the docker-compose demo (`docker-compose.yml`,
 * one nats-server config per server under `deploy/nats/`, and
 * `deploy/prometheus/prometheus.yml`) derived from
 * regions/, or with `--check` only reports whether the files on disk are what
 * would be written, so an edit to regions/ without regenerating is caught.
 */
import { chownSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import {
  composeFromTopology,
  composeHostnames,
  DEFAULT_CONFIG_DIR,
  IMAGE_UID,
  natsConfigsFromTopology,
  prometheusConfigFromTopology,
  PROMETHEUS_DIR,
  SECRETS_DIR,
} from "../topology/compose.js";
import { identitiesOf } from "../topology/access.js";
import { ensureSecrets } from "../launcher/secrets.js";
import { loadTopology } from "../topology/load.js";
import { CheckFailedError, ConfigError } from "../errors.js";

export interface ComposeCliOptions {
  mode: "light" | "full";
  regions: string;
  out: string;
  check?: boolean;
}

/** Every generated file (path → content) for `opts`, and the config directory they own. */
export function composeFiles(opts: Omit<ComposeCliOptions, "check">): { files: Map<string, string>; configDir: string } {
  const topo = loadTopology(opts.regions);
  const base = dirname(opts.out);
  // The compose file mounts its own directory at /app, so the node command
  // needs the regions directory relative to it, with forward slashes.
  const regionsDir = relative(base, opts.regions).split(sep).join("/") || ".";
  if (regionsDir.startsWith("..")) {
    throw new ConfigError("--regions", `--regions ${opts.regions} must be inside the directory of --out (${base}), which the containers mount at /app`, { named: true });
  }
  const configDir = join(base, DEFAULT_CONFIG_DIR);
  const files = new Map<string, string>([
    [opts.out, composeFromTopology(topo, { mode: opts.mode, regionsDir })],
    [join(base, PROMETHEUS_DIR, "prometheus.yml"), prometheusConfigFromTopology(topo, opts.mode)],
  ]);
  for (const [server, text] of Object.entries(natsConfigsFromTopology(topo, opts.mode))) files.set(join(configDir, `${server}.conf`), text);
  return { files, configDir };
}

/** `.conf` files in the config directory that generation would not produce (left over from a larger topology or full mode). */
function staleConfigs(configDir: string, files: Map<string, string>): string[] {
  let names: string[];
  try {
    names = readdirSync(configDir);
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith(".conf") && !files.has(join(configDir, n))).map((n) => join(configDir, n));
}

export async function runCompose(opts: ComposeCliOptions): Promise<void> {
  const { files, configDir } = composeFiles(opts);
  const stale = staleConfigs(configDir, files);
  if (opts.check) {
    const problems: string[] = [];
    for (const [path, text] of files) {
      let onDisk: string | undefined;
      try {
        onDisk = readFileSync(path, "utf8");
      } catch {
        onDisk = undefined;
      }
      if (onDisk === undefined) problems.push(`${path} is missing`);
      else if (onDisk !== text) problems.push(`${path} differs`);
    }
    for (const path of stale) problems.push(`${path} is not generated from ${opts.regions} (stale)`);
    if (problems.length > 0) {
      // One line, like every other CLI failure; the fix is always the same command.
      const fix = `regent compose --mode ${opts.mode} --regions ${opts.regions} --out ${opts.out}`;
      throw new CheckFailedError(`compose files out of date with ${opts.regions}: ${problems.join("; ")}; run \`${fix}\``);
    }
    process.stdout.write(`compose files up to date with ${opts.regions} (${files.size} files, ${opts.mode} mode)\n`);
    return;
  }
  mkdirSync(configDir, { recursive: true });
  for (const [path, text] of files) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  // The config directory is wholly generated: remove what no server uses any more.
  for (const path of stale) rmSync(path);
  // Secrets: only what is missing is made, so running containers keep working.
  const topo = loadTopology(opts.regions);
  const secrets = join(dirname(opts.out), SECRETS_DIR);
  const made = await ensureSecrets(secrets, { identities: identitiesOf(topo), hostnames: composeHostnames(topo) }, { signal: AbortSignal.timeout(30_000) });
  // Node containers run as the image's non-root user and must read their
  // seed (0600): as root, hand each node seed and the CA to that uid. Other
  // users own their files and pass REGENT_UID (see docker-compose.yml).
  if (process.getuid?.() === 0) {
    for (const r of topo.regions) chownSync(made.seedFile(`node-${r.name}`), IMAGE_UID, IMAGE_UID);
    chownSync(made.client.ca, IMAGE_UID, IMAGE_UID);
  }
  process.stdout.write(
    `wrote ${opts.out}, ${join(dirname(opts.out), PROMETHEUS_DIR, "prometheus.yml")} and ${files.size - 2} configs in ${configDir} (${opts.mode} mode)${stale.length ? `; removed ${stale.length} stale` : ""}; ` +
      `secrets in ${secrets} (do not commit)\n`,
  );
}
