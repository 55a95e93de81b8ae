/**
 * The benchmark suite (`npm run bench`): runs every benchmark (or `--only`
 * some), writes each result to bench/results/<name>.json wrapped with the
 * machine, versions, date and command, and regenerates the section of
 * BENCHMARKS.md between `<!-- bench:begin -->` and `<!-- bench:end -->` from
 * all result files (so `--only` refreshes only its own figures).
 *
 * `--quick` runs each benchmark once at a tiny size and, unless `--out-dir` /
 * `--md` say otherwise, writes nothing.
 *
 *   node --import tsx bench/run.ts [--quick] [--only compare,regions,servers,stream-leader,scale,idle]
 *        [--out-dir DIR] [--md FILE | --no-md] [--cpu-prof DIR] [--no-etcd] [--render-only]
 *        [--scale N:perBucket,…]   (scale cases instead of the default ones)
 *
 * Benchmarks run one after another, never in parallel: each is timing
 * sensitive and this is meant to run on a 2-core machine.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { etcd3ClientVersion, runCompareBench } from "./compare.js";
import { machineInfo } from "./election.js";
import { etcdVersion, findEtcd } from "./etcd.js";
import { runIdleBench } from "./idle.js";
import { runRegionsBench } from "./regions.js";
import { renderSection, spliceSection, type Envelope, type SuiteMachine, type SuiteResults } from "./report.js";
import { runScaleBench, type ScaleCase } from "./scale.js";
import { runServersBench } from "./servers.js";
import { round } from "./stats.js";
import { runStreamLeaderBench } from "./stream-leader.js";

export const BENCHMARKS = ["compare", "regions", "servers", "stream-leader", "scale", "idle"] as const;
export type BenchName = (typeof BENCHMARKS)[number];

export interface SuiteOptions {
  quick?: boolean;
  only?: BenchName[];
  /** Where result JSON goes (default bench/results); `null` writes none. */
  outDir?: string | null;
  /** Markdown file whose generated section is rewritten (default BENCHMARKS.md); `null` leaves it. */
  markdown?: string | null;
  /** V8 CPU profiles of the scale worker go here. */
  cpuProfDir?: string;
  /** Scale cases instead of the default ones. */
  scaleCases?: ScaleCase[];
  /** Measure regent only in the comparison. */
  skipEtcd?: boolean;
  /** Install etcd-server with apt-get when missing (root only). Default true. */
  installEtcd?: boolean;
  command?: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

const HERE = dirname(fileURLToPath(import.meta.url));
export const RESULTS_DIR = join(HERE, "results");
export const MARKDOWN = join(HERE, "..", "BENCHMARKS.md");

/** The commit the sources were at (with `+dirty` when the work tree had changes), or null outside git. */
function gitRevision(): string | null {
  try {
    const opts = { cwd: HERE, encoding: "utf8" as const, timeout: 5_000 };
    const rev = execFileSync("git", ["rev-parse", "--short", "HEAD"], opts).trim();
    // Top-level pathspecs: the cwd is bench/, where "src" would name bench/src.
    const dirty = execFileSync("git", ["status", "--porcelain", "--", ":/src", ":/bin"], opts).trim() !== "";
    return dirty ? `${rev}+dirty` : rev;
  } catch {
    return null;
  }
}

function suiteMachine(): SuiteMachine {
  const bin = findEtcd();
  return { ...machineInfo(), etcd: bin ? etcdVersion(bin) : null, etcd3Client: etcd3ClientVersion(), git: gitRevision() };
}

/** Reads every result file present in `dir`. */
export function readResults(dir: string): SuiteResults {
  const r: SuiteResults = {};
  for (const name of BENCHMARKS) {
    const f = join(dir, `${name}.json`);
    if (existsSync(f)) (r as Record<string, unknown>)[name] = JSON.parse(readFileSync(f, "utf8"));
  }
  return r;
}

/** Runs the selected benchmarks in order; returns their envelopes. */
export async function runSuite(opts: SuiteOptions = {}): Promise<SuiteResults> {
  const quick = opts.quick ?? false;
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  // `only: []` runs nothing and just regenerates the markdown from the result files.
  const only = new Set<BenchName>(opts.only ? opts.only : BENCHMARKS);
  // A quick run is a smoke test: its figures must not replace real ones unless asked to.
  const outDir = opts.outDir === undefined ? (quick ? null : RESULTS_DIR) : opts.outDir;
  const markdown = opts.markdown === undefined ? (quick ? null : MARKDOWN) : opts.markdown;
  const command = opts.command ?? `runSuite(${JSON.stringify({ quick, only: [...only] })})`;
  const common = { quick, log, ...(opts.signal ? { signal: opts.signal } : {}) };
  const runners: Record<BenchName, () => Promise<unknown>> = {
    compare: () => runCompareBench({ ...common, ...(opts.skipEtcd ? { skipEtcd: true } : {}), ...(opts.installEtcd !== undefined ? { installEtcd: opts.installEtcd } : {}) }),
    regions: () => runRegionsBench(common),
    servers: () => runServersBench(common),
    "stream-leader": () => runStreamLeaderBench(common),
    scale: () => runScaleBench({ ...common, ...(opts.cpuProfDir ? { cpuProfDir: opts.cpuProfDir } : {}), ...(opts.scaleCases ? { cases: opts.scaleCases } : {}) }),
    idle: () => runIdleBench(common),
  };
  const results: SuiteResults = {};
  for (const name of BENCHMARKS) {
    if (!only.has(name)) continue;
    const started = Date.now();
    const machine = suiteMachine(); // load average at this benchmark's start
    log(`== ${name}${quick ? " (quick)" : ""}`);
    const result = await runners[name]();
    const env: Envelope<unknown> = { date: new Date(started).toISOString(), durationS: round((Date.now() - started) / 1000, 1), command, machine, result };
    (results as Record<string, unknown>)[name] = env;
    log(`== ${name} done in ${env.durationS} s`);
    if (outDir) {
      mkdirSync(outDir, { recursive: true });
      writeFileSync(join(outDir, `${name}.json`), JSON.stringify(env, null, 2) + "\n");
    }
  }
  if (markdown) {
    const all = outDir ? readResults(outDir) : results;
    const doc = existsSync(markdown) ? readFileSync(markdown, "utf8") : "# Benchmarks\n";
    writeFileSync(markdown, spliceSection(doc, renderSection(all)));
  }
  return results;
}

/** `N:perBucket`, comma separated, e.g. `100:100,1000:1`. */
function parseScaleCases(raw: string): ScaleCase[] {
  return raw.split(",").map((c) => {
    const parts = c.split(":");
    const N = Number(parts[0]);
    const P = Number(parts[1] ?? parts[0]);
    if (parts.length > 2 || !(Number.isInteger(N) && N > 0 && Number.isInteger(P) && P > 0)) {
      throw new RangeError(`--scale: expected N:perBucket, got "${c}"`);
    }
    const layout = P >= N ? "one bucket" : P === 1 ? "bucket per election" : `${P} per bucket`;
    return { n: N, perBucket: P, layout };
  });
}

function parseSuiteArgs(args: string[]): SuiteOptions {
  const { values: v } = parseArgs({
    args,
    strict: true,
    options: {
      quick: { type: "boolean" },
      only: { type: "string", multiple: true },
      "out-dir": { type: "string" },
      md: { type: "string" },
      "no-md": { type: "boolean" },
      "cpu-prof": { type: "string" },
      "no-etcd": { type: "boolean" },
      "render-only": { type: "boolean" },
      scale: { type: "string" },
    },
  });
  const o: SuiteOptions = { quick: v.quick ?? false };
  if (v["render-only"]) o.only = [];
  if (v.only) {
    const names = v.only.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
    const bad = names.filter((n) => !(BENCHMARKS as readonly string[]).includes(n));
    if (bad.length) throw new RangeError(`--only: unknown benchmark(s) ${bad.join(", ")} (known: ${BENCHMARKS.join(", ")})`);
    o.only = names as BenchName[];
  }
  if (v["out-dir"] !== undefined) o.outDir = v["out-dir"];
  if (v.md !== undefined) o.markdown = v.md;
  if (v["no-md"]) o.markdown = null;
  if (v["cpu-prof"] !== undefined) o.cpuProfDir = v["cpu-prof"];
  if (v["no-etcd"]) o.skipEtcd = true;
  if (v.scale !== undefined) o.scaleCases = parseScaleCases(v.scale);
  return o;
}

async function main(): Promise<void> {
  let opts: SuiteOptions;
  try {
    opts = parseSuiteArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const args = process.argv.slice(2).join(" ");
  const command = `npm run bench${args ? ` -- ${args}` : ""}`;
  const ac = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      if (ac.signal.aborted) process.exit(130);
      process.stderr.write(`\n${sig}: stopping…\n`);
      ac.abort(new Error(sig));
    });
  }
  const started = Date.now();
  try {
    await runSuite({ ...opts, command, signal: ac.signal });
    const q = opts.quick ?? false;
    const out = opts.outDir === undefined ? (q ? null : RESULTS_DIR) : opts.outDir;
    const md = opts.markdown === undefined ? (q ? null : MARKDOWN) : opts.markdown;
    const wrote = [out ? `results in ${relative(process.cwd(), out) || "."}` : "no results written (quick)", md ? `${relative(process.cwd(), md)} regenerated` : ""].filter(Boolean);
    process.stdout.write(`suite done in ${Math.round((Date.now() - started) / 1000)} s; ${wrote.join(", ")}\n`);
    process.exitCode = 0;
  } catch (err) {
    process.stderr.write(ac.signal.aborted ? "interrupted\n" : `bench failed: ${(err as Error).stack ?? err}\n`);
    process.exitCode = ac.signal.aborted ? 130 : 1;
  }
  process.exit();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
