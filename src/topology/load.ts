/**
 * Loads `regions/` into a validated {@link Topology}: every file is checked
 * on its own with zod (`schema.ts`), then the rules that span files, then
 * defaults are applied. Every failure is a {@link TopologyError} whose
 * message starts with the file and the field, because the person reading it
 * is editing one JSON file and needs to know which line to look at.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { ConfigError } from "../errors.js";
import { resolveTiming } from "../election/timing.js";
import { BUMP_WINDOW_MS } from "../lease/bucket-epoch.js";
import {
  GlobalFileSchema,
  RegionFileSchema,
  TopologyError,
  parseFile,
  type GlobalFile,
  type RegionFile,
  type RegionSpec,
  type TierTiming,
  type Topology,
} from "./schema.js";

export { TopologyError, type RegionSpec, type TierTiming, type Topology } from "./schema.js";

/** Basename of the file holding deployment-wide settings. */
export const GLOBAL_FILE = "global.json";

/**
 * Reads `dir/global.json` and every other `dir/*.json` (one region each) and
 * validates them. Throws {@link TopologyError} (a `ConfigError`) naming the
 * file and field at fault; unreadable or unparsable JSON names the file and
 * the parser's complaint.
 */
export function loadTopology(dir = "regions"): Topology {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(".json"));
  } catch (err) {
    throw new TopologyError(dir, "(directory)", `cannot read topology directory: ${(err as Error).message}`);
  }
  const files: Record<string, unknown> = {};
  for (const n of names.sort()) {
    const file = join(dir, n);
    let text: string;
    try {
      // A directory named *.json is not a region; a dangling link is an error like any unreadable file.
      if (!statSync(file).isFile()) continue;
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new TopologyError(file, "(file)", `cannot read: ${(err as Error).message}`);
    }
    try {
      files[file] = JSON.parse(text) as unknown;
    } catch (err) {
      throw new TopologyError(file, "(file)", `invalid JSON: ${(err as Error).message}`);
    }
  }
  return topologyFromObject(files, dir);
}

/**
 * Validates already-parsed files. Keys are file paths (used verbatim in error
 * messages); the one whose basename is `global.json` holds global settings,
 * every other one is a region whose `name` must equal its basename.
 * `where` names the collection in errors that concern no single file.
 */
export function topologyFromObject(files: Record<string, unknown>, where = "regions"): Topology {
  const entries = Object.entries(files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const globalEntry = entries.find(([f]) => basename(f) === GLOBAL_FILE);
  if (!globalEntry) throw new TopologyError(join(where, GLOBAL_FILE), "(file)", "missing");
  const [globalPath, globalRaw] = globalEntry;
  const g: GlobalFile = parseFile(GlobalFileSchema, globalPath, globalRaw);

  // Per-file shape first, so cross-file rules can rely on types.
  const regionFiles: { file: string; spec: RegionFile }[] = [];
  for (const [file, raw] of entries) {
    if (file === globalPath) continue;
    const spec = parseFile(RegionFileSchema, file, raw);
    const expected = basename(file).replace(/\.json$/, "");
    if (spec.name !== expected) {
      throw new TopologyError(file, "name", `must equal the file name "${expected}", got "${spec.name}"`);
    }
    regionFiles.push({ file, spec });
  }

  // Cross-file rules.
  const byName = new Map<string, string>();
  for (const { file, spec } of regionFiles) {
    const other = byName.get(spec.name);
    if (other !== undefined) throw new TopologyError(file, "name", `duplicate region "${spec.name}" (also in ${other})`);
    byName.set(spec.name, file);
  }
  if (regionFiles.length < 2) {
    // A single region has nowhere to fail over to, and the quorum leases (one
    // store per region, docs/quorum.md) could not survive losing it.
    const found = regionFiles.map((r) => basename(r.file)).join(", ") || "none";
    throw new TopologyError(where, "(regions)", `at least 2 region files are required, found ${regionFiles.length} (${found})`);
  }
  for (const { file, spec } of regionFiles) {
    const seen = new Set<string>();
    spec.failover.forEach((target, i) => {
      const at = `failover[${i}]`;
      if (target === spec.name) throw new TopologyError(file, at, `a region cannot fail over to itself ("${target}")`);
      if (!byName.has(target)) throw new TopologyError(file, at, `unknown region "${target}" (known: ${[...byName.keys()].sort().join(", ")})`);
      if (seen.has(target)) throw new TopologyError(file, at, `duplicate region "${target}"`);
      seen.add(target);
    });
  }

  const regions = regionFiles.map(({ file, spec }) => region(file, spec)).sort((a, b) => (a.name < b.name ? -1 : 1));
  const globalTiming = timing(globalPath, "global.", g.global);
  return {
    cluster: g.cluster,
    global: { ...globalTiming, maxDrift: g.global.maxDrift ?? 0.01 },
    scopes: { ...timing(globalPath, "scopes.", g.scopes), failbackAfterMs: g.scopes.failbackAfterMs },
    regions,
  };
}

/** Candidate ids of a region: `<region>-1` … `<region>-<candidates>`. */
export function candidateIds(region: string, candidates: number): string[] {
  return Array.from({ length: candidates }, (_, i) => `${region}-${i + 1}`);
}

/** The region called `name`, or a `ConfigError` listing the known ones. */
export function findRegion(topology: Topology, name: string): RegionSpec {
  const r = topology.regions.find((x) => x.name === name);
  if (!r) throw new ConfigError("region", `unknown region "${name}" (known: ${topology.regions.map((x) => x.name).join(", ")})`);
  return r;
}

function region(file: string, spec: RegionFile): RegionSpec {
  const ids = candidateIds(spec.name, spec.candidates);
  const priorities = spec.priorities ?? {};
  for (const id of Object.keys(priorities)) {
    // Priorities for a candidate that does not exist are a typo, not a no-op.
    if (!ids.includes(id)) {
      throw new TopologyError(file, `priorities[${JSON.stringify(id)}]`, `unknown candidate (candidates are ${ids.join(", ")})`);
    }
  }
  return {
    name: spec.name,
    servers: spec.servers,
    candidates: spec.candidates,
    candidateIds: ids,
    failover: [...spec.failover],
    ...timing(file, "", spec),
    priorities: { ...priorities },
    file,
  };
}

/**
 * Applies the renew default and checks lease/renew against each other with
 * the election's own rules (`resolveTiming`), so a topology that loads can
 * never be rejected later when an election starts.
 */
function timing(file: string, prefix: string, t: { leaseMs: number; renewMs?: number | undefined; maxDrift?: number | undefined }): TierTiming {
  try {
    // Every lease of a deployment lives in a NATS bucket, whose recovery after
    // a loss relies on leases being longer than its purge window (bucket-epoch.ts).
    if (t.leaseMs <= BUMP_WINDOW_MS) throw new ConfigError(`${prefix}leaseMs`, `must be longer than ${BUMP_WINDOW_MS} ms on a NATS store, got ${t.leaseMs}`);
    const r = resolveTiming({ leaseMs: t.leaseMs, ...(t.renewMs !== undefined ? { renewMs: t.renewMs } : {}), ...(t.maxDrift !== undefined ? { maxDrift: t.maxDrift } : {}) }, prefix);
    return { leaseMs: r.leaseMs, renewMs: r.renewMs };
  } catch (err) {
    if (err instanceof ConfigError) {
      const problem = err.message.startsWith(`${err.field}: `) ? err.message.slice(err.field.length + 2) : err.message;
      throw new TopologyError(file, err.field, problem);
    }
    throw err;
  }
}
