/**
 * `npm run sim -- --seeds N --from S [--mutation M] [--jobs J] [--trace] [--quorum]`
 *
 * `--quorum` runs the quorum-lease simulation (src/sim/quorum-run.ts) instead
 * of the deployment one; its mutations are QUORUM_MUTATIONS. `--quorum-scopes`
 * runs scope leases over a quorum (src/sim/quorum-scopes-run.ts); its
 * mutations are SCOPE_QUORUM_MUTATIONS.
 *
 * Runs N seeded simulations starting at seed S (split over J worker
 * processes) and exits non-zero on any violation, printing a one-line
 * reproduction command and a readable trace of the failing seed.
 */
import { fork } from "node:child_process";
import { cpus } from "node:os";
import { setMaxListeners } from "node:events";
import { fileURLToPath } from "node:url";
import { Command, InvalidArgumentError, Option } from "commander";
import { LaunchFailedError } from "../errors.js";
import { runSeed, type SeedResult } from "./run-seed.js";
import { MUTATIONS, type Mutation } from "./world.js";
import { QUORUM_MUTATIONS, runQuorumSeed, type QuorumMutation } from "./quorum-run.js";
import { SCOPE_QUORUM_MUTATIONS, runScopeQuorumSeed, type ScopeQuorumMutation } from "./quorum-scopes-run.js";

// Crashed simulated processes leave listeners on long-lived signals; harmless here.
setMaxListeners(0);

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, got "${v}"`);
  return n;
};

interface Summary {
  seeds: number;
  failed: SeedResult[];
  recovery: number[];
  events: number;
}

const quorum = process.argv.includes("--quorum");
const quorumScopes = process.argv.includes("--quorum-scopes");

async function runRange(from: number, count: number, mutation: Mutation): Promise<Summary> {
  const s: Summary = { seeds: 0, failed: [], recovery: [], events: 0 };
  for (let seed = from; seed < from + count; seed++) {
    const r = quorumScopes
      ? await runScopeQuorumSeed(seed, { mutation: mutation as unknown as ScopeQuorumMutation })
      : quorum
        ? await runQuorumSeed(seed, { mutation: mutation as unknown as QuorumMutation })
        : await runSeed(seed, { mutation });
    s.seeds++;
    s.events += r.events;
    if (r.ok) s.recovery.push(r.recoveredAfterMs);
    else s.failed.push({ ...r, trace: r.trace.slice(-Number(process.env.REGENT_SIM_TRACE_LINES ?? 80)) });
  }
  return s;
}

function report(s: Summary, mutation: Mutation, ms: number, showTrace: boolean): number {
  const sorted = [...s.recovery].sort((a, b) => a - b);
  const q = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN);
  const mut = mutation === "none" ? "" : ` [mutation ${mutation}]`;
  process.stdout.write(
    `sim${mut}: ${s.seeds} seeds, ${s.failed.length} with violations, ${s.events} events, ${(ms / 1000).toFixed(1)} s; ` +
      `recovery after faults p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${sorted.at(-1) ?? NaN} ms\n`,
  );
  for (const f of s.failed.slice(0, 3)) {
    process.stdout.write(`\nseed ${f.seed} violated:\n  ${f.violations.slice(0, 5).join("\n  ")}\n`);
    process.stdout.write(`reproduce: npm run sim -- ${quorumScopes ? "--quorum-scopes " : quorum ? "--quorum " : ""}--seeds 1 --from ${f.seed}${mutation === "none" ? "" : ` --mutation ${mutation}`} --trace\n`);
    if (showTrace || s.failed.length === 1) process.stdout.write(`trace (last ${f.trace.length} lines):\n  ${f.trace.join("\n  ")}\n`);
  }
  // The plain summary line CI reads: "N passed, N failed".
  process.stdout.write(`sim: ${s.seeds - s.failed.length} passed, ${s.failed.length} failed\n`);
  return s.failed.length === 0 ? 0 : 1;
}

async function main(): Promise<void> {
  const program = new Command()
    .name("sim")
    .option("--seeds <n>", "how many seeds", int, 200)
    .option("--from <seed>", "first seed", int, 1)
    .addOption(new Option("--mutation <name>", "break one rule on purpose").choices(["none", ...MUTATIONS, ...QUORUM_MUTATIONS, ...SCOPE_QUORUM_MUTATIONS]).default("none"))
    .option("--quorum", "simulate the quorum lease over independent stores")
    .option("--quorum-scopes", "simulate scope leases over a quorum of region stores")
    .option("--jobs <n>", "worker processes", int, Math.max(1, cpus().length))
    .option("--trace", "print the trace of every failing seed")
    .option("--worker", "internal: run a range and send the summary to the parent")
    .parse(process.argv);
  const o = program.opts<{ seeds: number; from: number; mutation: Mutation; jobs: number; trace?: boolean; worker?: boolean }>();
  const t0 = performance.now();
  if (o.worker) {
    const s = await runRange(o.from, o.seeds, o.mutation);
    process.send?.(s, () => process.exit(0));
    return;
  }
  const jobs = Math.max(1, Math.min(o.jobs, o.seeds));
  let summary: Summary;
  if (jobs === 1) summary = await runRange(o.from, o.seeds, o.mutation);
  else {
    const per = Math.ceil(o.seeds / jobs);
    const parts = await Promise.all(
      Array.from({ length: jobs }, (_, j) => {
        const from = o.from + j * per;
        const count = Math.max(0, Math.min(per, o.from + o.seeds - from));
        return new Promise<Summary>((resolve, reject) => {
          const child = fork(fileURLToPath(import.meta.url), ["--worker", "--from", String(from), "--seeds", String(count), "--mutation", o.mutation, ...(quorum ? ["--quorum"] : []), ...(quorumScopes ? ["--quorum-scopes"] : [])], {
            execArgv: process.execArgv,
          });
          let got: Summary | undefined;
          child.on("message", (m) => (got = m as Summary));
          child.on("exit", (code) => (got ? resolve(got) : reject(new LaunchFailedError(`sim worker for seeds ${from}.. exited with ${code}`))));
        });
      }),
    );
    summary = parts.reduce((a, b) => ({ seeds: a.seeds + b.seeds, failed: [...a.failed, ...b.failed], recovery: [...a.recovery, ...b.recovery], events: a.events + b.events }));
    summary.failed.sort((a, b) => a.seed - b.seed);
  }
  process.exit(report(summary, o.mutation, performance.now() - t0, !!o.trace));
}

void main().catch((err) => {
  process.stderr.write(`sim: ${(err as Error).stack ?? err}\n`);
  process.exit(2);
});
