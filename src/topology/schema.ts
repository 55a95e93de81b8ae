/**
 * Zod schemas for the declarative topology in `regions/`: one `global.json`
 * plus one `<region>.json` per region. These check the shape of a single
 * file; rules that span files (failover targets exist, names are unique, …)
 * live in `load.ts`, which also applies the defaults.
 *
 * Objects are strict: an unknown key is almost always a typo (`leaseMS`),
 * and silently ignoring it would run the demo with a default the operator
 * thought they had overridden.
 */
import { z } from "zod";
import { ConfigError } from "../errors.js";

/** A NATS subject token: regent puts cluster and region names into subjects, bucket names and server names. */
export const NAME_RE = /^[A-Za-z0-9_-]+$/;

const name = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .min(1, { error: `${what} must not be empty` })
    .max(64, { error: `${what} must be at most 64 characters` })
    .regex(NAME_RE, { error: `${what} must be a NATS subject token ([A-Za-z0-9_-]+)` });

// zod 4 uses a schema's `error` for its checks too, so each message covers type and range.
const ms = (what: string) => z.int({ error: `${what} must be a positive integer number of milliseconds` }).positive();

/** `global.json`: deployment name and the timings of the global tier and of region-scoped leases. */
export const GlobalFileSchema = z.strictObject({
  cluster: name("cluster"),
  global: z.strictObject({
    leaseMs: ms("leaseMs"),
    renewMs: ms("renewMs").optional(),
    maxDrift: z.number({ error: "maxDrift must be a number in [0, 0.2]" }).min(0).max(0.2).optional(),
  }),
  scopes: z.strictObject({
    leaseMs: ms("leaseMs"),
    renewMs: ms("renewMs").optional(),
    failbackAfterMs: z.int({ error: "failbackAfterMs must be a non-negative integer number of milliseconds" }).nonnegative(),
  }),
});
/** `global.json` as written (before defaults). */
export type GlobalFile = z.infer<typeof GlobalFileSchema>;

/** `<region>.json`: one region, its NATS cluster size, its candidates and where its work fails over to. */
export const RegionFileSchema = z.strictObject({
  // No NATS cluster is called `global` any more (issue 11: every cluster is a
  // region's own), and subjects, buckets and streams give a region's name a
  // token of its own. `global` stays refused for other reasons: `global.json`
  // is the deployment-wide file (so loadTopology never sees such a region,
  // but topologyFromObject could), and the dashboard and `regent status`
  // key the global lease by that word next to region names.
  name: name("region name").refine((n) => n !== "global", {
    error: `"global" is reserved (global.json is the deployment's file; the global lease goes by that name)`,
  }),
  // 1 or 3: a JetStream cluster of 2 loses quorum with either server, so it is never what anyone wants.
  servers: z.literal([1, 3], { error: "servers must be 1 or 3" }),
  candidates: z.int({ error: "candidates must be an integer in [1, 64]" }).min(1).max(64),
  failover: z.array(name("failover target")),
  leaseMs: ms("leaseMs"),
  renewMs: ms("renewMs").optional(),
  priorities: z.record(z.string(), z.int({ error: "priority must be an integer" })).optional(),
});
/** `<region>.json` as written (before defaults). */
export type RegionFile = z.infer<typeof RegionFileSchema>;

/** Timings of one election tier, defaults applied (`renewMs` defaults to `leaseMs / 3`, as in `resolveTiming`). */
export interface TierTiming {
  leaseMs: number;
  renewMs: number;
}

/** One region, validated, with defaults applied. */
export interface RegionSpec extends TierTiming {
  name: string;
  /** Servers in the region's own JetStream cluster in "full" mode. */
  servers: 1 | 3;
  candidates: number;
  /** Candidate ids, `<region>-1` … `<region>-<candidates>`. */
  candidateIds: string[];
  /** Other regions, in order of preference. */
  failover: string[];
  /** Candidate id → priority; only ids listed in {@link candidateIds}. Empty when the file has none. */
  priorities: Record<string, number>;
  /** File the region came from, for error messages further down the line. */
  file: string;
}

/** The whole topology: the single source of truth for the launcher, the CLI and the elections. */
export interface Topology {
  /** Deployment name, used in subjects `regent.<cluster>.…`. */
  cluster: string;
  global: TierTiming & { maxDrift: number };
  scopes: TierTiming & { failbackAfterMs: number };
  /** Sorted by name, so every consumer iterates regions in the same order. */
  regions: RegionSpec[];
}

/**
 * A topology file is invalid. `file` and `path` locate the problem; the
 * message reads `<file>: <path>: <problem>`, e.g.
 * `regions/eu-west.json: failover[1]: unknown region "mars"`.
 */
export class TopologyError extends ConfigError {
  readonly file: string;
  /** Field path inside the file (`failover[1]`), or `(file)` when the problem is the file as a whole. */
  readonly path: string;
  constructor(file: string, path: string, problem: string) {
    super(`${file}: ${path}`, problem);
    this.file = file;
    this.path = path;
  }
}

/** Renders a zod issue path as a JS-ish accessor: `global.leaseMs`, `failover[1]`, `priorities["eu-west-1"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (typeof seg === "string" && /^[A-Za-z_$][\w$]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out || "(file)";
}

/** Parses `value` with `schema`, or throws a {@link TopologyError} naming `file` and the first bad field. */
export function parseFile<T>(schema: z.ZodType<T>, file: string, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  if (!issue) throw new TopologyError(file, "(file)", "invalid");
  if (issue.code === "unrecognized_keys") {
    // zod reports these on the parent object; point at the key itself.
    const key = issue.keys[0] ?? "?";
    return fail(file, formatPath([...issue.path, key]), "unknown field");
  }
  // A missing key fails the type check like a wrong value does; say it plainly.
  const message = issue.code === "invalid_type" && at(value, issue.path) === undefined ? "required field is missing" : issue.message;
  const extra = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problem(s) in this file)` : "";
  return fail(file, formatPath(issue.path), message + extra);
}

function at(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const seg of path) v = v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[seg] : undefined;
  return v;
}

function fail(file: string, path: string, problem: string): never {
  throw new TopologyError(file, path, problem);
}
