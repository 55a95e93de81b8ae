/**
 * Runs one drill: deployment up, steady state, the scenario's fault and
 * measurements, everything stopped, then the oracle and the fenced store's
 * audit, and the report written to `<out>/<scenario>-<timestamp>/`.
 *
 * Cleanup is unconditional: a finally block stops the nodes, the demo writer
 * and the servers; SIGINT/SIGTERM run the same cleanup before exiting; the
 * launcher's orphan registry and `--pdeathsig` cover a drill that is killed
 * outright. partition-region runs the drill inside network namespaces (see
 * netns.ts): this process sets them up, re-executes itself inside the core
 * namespace, and deletes the namespaces afterwards whatever happened.
 */
import { execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../util/nats-connect.js";
import { selfCommand } from "../launcher/self.js";
import { findNatsServer } from "../launcher/ports.js";
import { startNatsServer, type NatsServerHandle } from "../launcher/nats-launcher.js";
import { monotonicNowMs } from "../util/clock.js";
import { loadTopology } from "../topology/load.js";
import { judge } from "./analysis.js";
import { deathSignalPrefix } from "../launcher/harness-node.js";
import { RegentHarness } from "../launcher/harness.js";
import { LoopbackFabric, type DrillHarness, type Fabric } from "./fabric.js";
import { DemoWriter, FencedKv } from "./fenced-store.js";
import { sleep, type DrillContext, type ScenarioDef } from "./kit.js";
import { NetnsFabric, isRoot, setupNetns, teardownNetns, type NetnsPlan } from "./netns.js";
import { writeReport } from "./report.js";
import { scenarioDefs } from "./scenarios.js";
import type { DrillOptions, DrillReport, FencedCounts, Scenario, ScenarioOutcome } from "./types.js";

const NETNS_ENV = "REGENT_DRILL_NETNS";
const RESULT_ENV = "REGENT_DRILL_RESULT";

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, "-").replace(/Z$/, "");
}

function natsVersion(): string {
  try {
    return execFileSync(findNatsServer(), ["--version"], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

/** Runs `cleanup` once on SIGINT/SIGTERM, then exits 130; returns the unregister function. */
function onInterrupt(cleanup: () => Promise<void>): () => void {
  let running = false;
  const handler = () => {
    if (running) process.exit(130);
    running = true;
    process.stderr.write("regent drill: interrupted, cleaning up…\n");
    const hard = setTimeout(() => process.exit(130), 30_000);
    void cleanup().finally(() => {
      clearTimeout(hard);
      process.exit(130);
    });
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
}

async function defaultStart(ctx: DrillContext): Promise<void> {
  ctx.dep.spawnAll();
  await ctx.dep.ready();
  await ctx.dep.steady(undefined, 90_000);
  await ctx.dep.quorumSettled(60_000, ctx.signal);
}

/** nats-server ping_interval for the namespace fabric: `--nats-ping` (default 1s; "default" keeps the server's 2m). */
function natsPing(opts: DrillOptions): string | undefined {
  const p = opts.natsPing ?? "1s";
  return p === "default" ? undefined : p;
}

function emptyFenced(): FencedCounts {
  return { offered: 0, accepted: 0, rejectedStale: 0, unavailable: 0, acceptedFromDeposed: 0, acceptedFromDeposedUnsafe: 0, claims: 0, perScope: {}, examples: [] };
}

/** Runs one drill and writes its report; resolves with the report (never rejects for a failed drill: see `passed`). */
export async function runDrill(scenario: Scenario, opts: DrillOptions): Promise<DrillReport> {
  const def = scenarioDefs[scenario];
  const dir = resolve(opts.out, `${scenario}-${stamp()}`);
  if (def.fabric === "netns" && !process.env[NETNS_ENV]) return runInNamespaces(scenario, opts, dir);
  mkdirSync(dir, { recursive: true });
  const log = (m: string) => opts.verbose && process.stderr.write(`[drill ${scenario} +${((monotonicNowMs() - t0) / 1000).toFixed(1)}s] ${m}\n`);
  const t0 = monotonicNowMs();
  const startedAt = new Date().toISOString();
  const topology = loadTopology(opts.regions);
  const work = mkdtempSync(join(tmpdir(), "regent-drill-"));
  const ac = new AbortController();
  let fabric: Fabric | undefined;
  let dep: DrillHarness | undefined;
  let nc: NatsConnection | undefined;
  let writer: DemoWriter | undefined;
  let resource: NatsServerHandle | undefined;
  let stopped = false;
  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    await writer?.stop().catch(() => undefined);
    await nc?.close().catch(() => undefined);
    await resource?.stop().catch(() => undefined);
    if (dep) await dep.stop().catch(() => undefined);
    else await fabric?.stop().catch(() => undefined);
  };
  const unhook = onInterrupt(async () => {
    ac.abort();
    await stopAll();
    rmSync(work, { recursive: true, force: true });
  });
  const ctx = { opts, marks: [], signal: ac.signal, log } as unknown as DrillContext;
  let out: ScenarioOutcome = { recoveryMs: null, recoveryWhat: "", boundMs: 0, metrics: {}, failures: [], notes: [] };
  let error: string | undefined;
  try {
    log(`starting ${def.fabric} supercluster from ${opts.regions}`);
    fabric = def.fabric === "netns" ? await NetnsFabric.start(topology, JSON.parse(process.env[NETNS_ENV]!) as NetnsPlan, natsPing(opts)) : await LoopbackFabric.start(topology);
    // Nodes get this process's whole environment and die with it even when it is SIGKILLed.
    dep = new RegentHarness(topology, resolve(opts.regions), work, fabric, { logLevel: process.env.REGENT_DRILL_LOG_LEVEL ?? "warn", deathSignal: true, env: process.env, clientName: "regent-drill" });
    ctx.dep = dep;
    // The fenced resource lives on a server of its own: no region's loss takes it down.
    resource = await startNatsServer({ signal: ac.signal });
    nc = await connectNats([resource.url], "regent-drill-writer");
    const store = await FencedKv.open(nc);
    writer = new DemoWriter(store, () => dep!.nodes);
    writer.start();
    log("starting nodes");
    await (def.start ?? defaultStart)(ctx);
    log("steady state");
    // Not a synchronisation (steady state was waited for above): a second of
    // it on the timeline, with fenced writes, before the fault.
    await sleep(1_000, ac.signal);
    out = await def.run(ctx);
  } catch (err) {
    error = (err as Error).stack ?? String(err);
    log(`error: ${(err as Error).message}`);
  } finally {
    await stopAll();
    unhook();
  }
  const { verdict, intervals } = dep ? judge(dep, out.expectUnsafeLeases) : { verdict: { ok: false, violations: [], expectedViolations: [], actsOutsideTerms: [], intervals: 0, acts: 0 }, intervals: [] };
  const fenced = emptyFenced();
  if (writer) {
    Object.assign(fenced, writer.counts);
    const a = writer.audit(intervals, out.expectUnsafeLeases);
    fenced.acceptedFromDeposed = a.safe;
    fenced.acceptedFromDeposedUnsafe = a.unsafe;
    fenced.examples = a.examples;
  }
  if (opts.keepRaw && dep) {
    mkdirSync(join(dir, "raw"), { recursive: true });
    for (const f of dep.files()) for (const p of [f.intervals, f.acts]) if (p) cpSync(p, join(dir, "raw", p.split("/").pop()!));
  }
  rmSync(work, { recursive: true, force: true });
  // Where overlap was provoked on purpose, the fenced store must have turned the stale holder away.
  for (const lease of out.expectUnsafeLeases ?? []) {
    const scope = lease.replace(/^scope\//, "");
    if (verdict.expectedViolations.some((v) => v.startsWith(`${lease}:`)) && !(fenced.perScope[scope]?.rejectedStale ?? 0)) {
      out.failures.push(`${lease}: overlap (expected) but the fenced store rejected no stale write`);
    }
  }
  const faults = ctx.marks.filter((m) => m.kind === "fault");
  const passed =
    !error &&
    verdict.ok &&
    verdict.actsOutsideTerms.length === 0 &&
    fenced.acceptedFromDeposed === 0 &&
    out.failures.length === 0 &&
    out.recoveryMs !== null &&
    out.recoveryMs <= out.boundMs;
  const report: DrillReport = {
    scenario,
    startedAt,
    durationMs: Math.round(monotonicNowMs() - t0),
    host: { cpus: cpus().length, node: process.version, natsServer: natsVersion() },
    fabric: def.fabric,
    faultAt: faults[0]?.t ?? null,
    outcome: out,
    oracle: verdict,
    fenced,
    marks: ctx.marks,
    intervals,
    participants: (dep?.nodes ?? []).map((n) => ({ id: n.id, region: n.region, wrapper: n.skew ? ["faketime", n.skew.spec] : n.wrapper })),
    passed,
    ...(error ? { error } : {}),
    dir,
  };
  writeReport(report);
  if (process.env[RESULT_ENV]) writeFileSync(process.env[RESULT_ENV], JSON.stringify(report));
  return report;
}

/** Sets up the namespaces, re-runs this drill inside the core namespace, tears everything down. */
async function runInNamespaces(scenario: Scenario, opts: DrillOptions, dir: string): Promise<DrillReport> {
  if (!isRoot() || !existsSync("/usr/sbin/ip") && !existsSync("/sbin/ip") && !existsSync("/usr/bin/ip")) {
    const reason = !isRoot() ? "needs root (network namespaces); run as root or skip this scenario" : "needs iproute2 (`ip`)";
    mkdirSync(dir, { recursive: true });
    const report = skippedReport(scenario, dir, reason);
    writeReport(report);
    return report;
  }
  const plan = setupNetns(loadTopology(opts.regions).regions.map((r) => r.name));
  const resultFile = join(mkdtempSync(join(tmpdir(), "regent-drill-result-")), "report.json");
  let child: ReturnType<typeof spawn> | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);
  const unhook = onInterrupt(async () => {
    child?.kill("SIGTERM"); // the inner drill cleans up its processes, then we remove the namespaces
    await Promise.race([exited, sleep(25_000).catch(() => undefined)]);
    teardownNetns(plan);
  });
  try {
    const self = selfCommand();
    const args = ["netns", "exec", plan.core, ...deathSignalPrefix(), self.command, ...self.args, "drill", scenario, "--regions", resolve(opts.regions), "--out", resolve(opts.out)];
    if (opts.region) args.push("--region", opts.region);
    if (opts.verbose) args.push("--verbose");
    if (opts.keepRaw) args.push("--keep-raw");
    if (opts.natsPing) args.push("--nats-ping", opts.natsPing);
    child = spawn("ip", args, { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, [NETNS_ENV]: JSON.stringify(plan), [RESULT_ENV]: resultFile } });
    exited = new Promise<number | null>((r) => child!.on("exit", (c) => r(c)));
    const code = await exited;
    if (!existsSync(resultFile)) {
      mkdirSync(dir, { recursive: true });
      const report = { ...skippedReport(scenario, dir, ""), skipped: undefined, error: `drill inside the namespaces exited with code ${code} and wrote no report` } as DrillReport;
      writeReport(report);
      return report;
    }
    return JSON.parse(readFileSync(resultFile, "utf8")) as DrillReport;
  } finally {
    unhook();
    teardownNetns(plan);
    rmSync(join(resultFile, ".."), { recursive: true, force: true });
  }
}

function skippedReport(scenario: Scenario, dir: string, reason: string): DrillReport {
  return {
    scenario,
    startedAt: new Date().toISOString(),
    durationMs: 0,
    host: { cpus: cpus().length, node: process.version, natsServer: natsVersion() },
    fabric: "netns",
    faultAt: null,
    outcome: { recoveryMs: null, recoveryWhat: "", boundMs: 0, metrics: {}, failures: [], notes: [] },
    oracle: { ok: true, violations: [], expectedViolations: [], actsOutsideTerms: [], intervals: 0, acts: 0 },
    fenced: emptyFenced(),
    marks: [],
    intervals: [],
    participants: [],
    passed: false,
    skipped: reason,
    dir,
  };
}

export type { ScenarioDef };
