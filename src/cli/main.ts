/**
 * The `regent` command line. Each subcommand lives in its own file; this one
 * only declares arguments (commander validates them and prints `--help`).
 * Conventions shared by every command (an environment variable per option,
 * exit codes, JSON errors) are in conventions.ts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { ConfigError } from "../errors.js";
import { addAuthOptions, parseCount, parseDrift, parseMs } from "./common.js";
import { SCENARIOS } from "../drills/types.js";
import { RegentCommand, honourBooleanEnvOff, jsonRequested, reportError } from "./conventions.js";

/** package.json is two levels up from both src/cli/ and dist/cli/. */
const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

const program = new RegentCommand()
  .name("regent")
  .description("Multi-region leader election with fencing tokens on NATS JetStream")
  .version(version, "-V, --version", "print the version")
  .addHelpText(
    "after",
    "\nEvery option can also be set by an environment variable, shown next to it: REGENT_<OPTION> (e.g. REGENT_LOG_LEVEL),\n" +
      "or NATS_URL and NATS_* for the connection. Exit codes: 0 ok, 1 failure, 2 usage, 3 config, 4 unavailable, 5 refused.",
  )
  // Errors are reported once, by the catch at the bottom (as JSON under
  // --json), and exit with the code of their kind, not commander's 1.
  .exitOverride()
  .configureOutput({ outputError: () => undefined });
honourBooleanEnvOff(program);

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
const logLevel = (dflt: string) => new Option("--log-level <level>", "pino log level on stderr").choices(LOG_LEVELS).default(dflt);

/** `<host>:<port>` (IPv6 in brackets: `[::]:9464`). */
function parseAddress(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d+)$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`expected <host>:<port> (e.g. 0.0.0.0:9464), got "${v}"`);
  return { host: m[1] ?? m[2]!, port: parsePort(m[3]!) };
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`expected a port number, got "${v}"`);
  return n;
}

const servers = () => new Option("-s, --servers <urls>", "NATS server URLs, comma separated (default nats://127.0.0.1:4222)").env("NATS_URL");

program
  .command("elect")
  .description("stand as a candidate in one election; prints events (resign/stop on stdin)")
  .addOption(servers())
  .requiredOption("-k, --key <key>", "lease key, e.g. demo.leader")
  .option("-b, --bucket <bucket>", "KV bucket", "regent")
  .option("--id <id>", "candidate id (default host-pid-random)")
  .option("--lease-ms <ms>", "lease duration", parseMs)
  .option("--renew-ms <ms>", "renew interval (default lease/3)", parseMs)
  .option("--max-drift <fraction>", "bound on clock rate drift", parseDrift)
  .option("--replicas <n>", "replicas when creating the bucket", parseCount)
  .option("--intervals <file>", "append leadership intervals (split-brain oracle input)")
  .option("--act-log <file>", "while leader, append a line every --act-every ms (guarded work)")
  .option("--act-every <ms>", "period of the guarded work", parseMs)
  .option("--json", "one JSON object per line")
  .option("--trace-handover", "also print `hop` lines: store writes, reads and watch deliveries, timestamped (benchmarks)")
  .addOption(logLevel("warn"))
  .action(async (o) => {
    // Check timing and key before connecting: without a reachable server the
    // connection error would hide the real mistake.
    const { resolveTiming } = await import("../election/timing.js");
    const { validateKey } = await import("../lease/keys.js");
    validateKey("--key", o.key);
    resolveTiming({ leaseMs: o.leaseMs, renewMs: o.renewMs, maxDrift: o.maxDrift });
    return (await import("./elect.js")).runElect(o);
  });

program
  .command("demo")
  .description("local demo: a nats-server, three candidate processes, a leader kill and a resign")
  .option("--lease-ms <ms>", "lease duration", parseMs, 2000)
  .option("--candidates <n>", "candidate processes", parseCount, 3)
  .action(async (o) => (await import("./demo.js")).runDemo(o));

const regionsDir = () => new Option("-r, --regions <dir>", "topology directory").default("regions");
const mode = () => new Option("-m, --mode <mode>", "light: 1 server per region; full: the servers in each region file").choices(["light", "full"]).default("light");
const cluster = () => new Option("-c, --cluster <name>", "deployment name (default: from the regions directory)");
/** A command that talks to a running deployment: where its servers are, and its name (given, or from the regions directory). */
const deploymentCommand = (name: string, description: string) =>
  program.command(name).description(description).addOption(servers()).addOption(cluster()).addOption(regionsDir());
/** The deployment name: --cluster, else regions/global.json. */
async function clusterOf(o: { cluster?: string; regions?: string }): Promise<string> {
  if (o.cluster) return o.cluster;
  const { loadTopology } = await import("../topology/load.js");
  return loadTopology(o.regions ?? "regions").cluster;
}

program
  .command("up")
  .description("start the local multi-region supercluster from regions/, the candidate nodes, and a live status table")
  .addOption(regionsDir())
  .addOption(mode())
  .option("--once", "exit (tearing everything down) once every leader is elected")
  .option("--refresh-ms <ms>", "status refresh period", parseMs, 1000)
  .option("--log-dir <dir>", "keep nats-server logs here")
  .option("--insecure", "no TLS and no authentication (by default: TLS everywhere, an nkey per identity, permissions per role)")
  .option("--dashboard-host <addr>", "dashboard and control API listen address", "127.0.0.1")
  .option("--dashboard-port <port>", "dashboard port (if taken, any free port; the URL is printed)", parsePort, 4280)
  .option("--no-dashboard", "no dashboard and no exercise controls")
  .option("--control <file>", "where to write the control file for `regent region|node <action>` (default: per user and deployment in the temp dir)")
  .action(async (o) => (await import("./up.js")).runUp(o));

const exerciseOpts = (c: Command) =>
  c
    .addOption(regionsDir())
    .addOption(cluster())
    .option("--control <file>", "control file of the running `regent up` (default: the one `up` wrote for this deployment)")
    .option("--json", "machine-readable output");

exerciseOpts(
  program
    .command("region")
    .description("exercise on the running `regent up`: kill, pause, resume or restart a whole region (its nodes and nats-servers)")
    .addArgument(new Argument("<action>", "what to do").choices(["kill", "pause", "resume", "restart"]))
    .argument("<region>", "region name"),
).action(async (action, region, o) => (await import("./exercise.js")).runExercise("region", action, region, { ...o, cluster: await clusterOf(o) }));

program
  .command("node")
  .description("run one participant (regional candidate, and global candidate while regional leader); or, with an action, kill|pause|resume|restart a node of the running `regent up`")
  .addArgument(new Argument("[action]", "exercise on the running `regent up` instead of running a node").choices(["kill", "pause", "resume", "restart"]))
  .argument("[id]", "node id, with an action")
  .option("--region <name>", "this node's region (a file in the regions directory); required to run a node")
  .option("--id <id>", "node id (default <region>-<host>-<pid>)")
  .addOption(regionsDir())
  .addOption(mode())
  .addOption(servers())
  .addOption(cluster())
  .option("--control <file>", "with an action: control file of the running `regent up`")
  .option("--json", "one JSON object per line")
  .option("--intervals <file>", "append leadership intervals (split-brain oracle input)")
  .option("--act-log <file>", "while leader, append a line every 5 ms (guarded work)")
  .addOption(logLevel("info"))
  .option("--metrics-port <port>", "serve /metrics, /healthz and /readyz on <host>:<port> (0: any free port, printed on the ready line)", parsePort)
  .option("--metrics-host <host>", "address for --metrics-port (0.0.0.0 for Kubernetes probes)", "127.0.0.1")
  .option("--metrics-address <host:port>", "the two above in one: where /metrics, /healthz and /readyz listen (e.g. 0.0.0.0:9464)", parseAddress)
  .action(async (action: string | undefined, target: string | undefined, o) => {
    if (o.metricsAddress) {
      if (o.metricsPort !== undefined) throw new InvalidArgumentError("give --metrics-address or --metrics-port, not both");
      o.metricsHost = o.metricsAddress.host;
      o.metricsPort = o.metricsAddress.port;
    }
    if (action) {
      if (!target) throw new InvalidArgumentError(`node ${action}: missing the node id (e.g. regent node ${action} eu-west-1)`);
      return (await import("./exercise.js")).runExercise("node", action, target, { ...o, cluster: await clusterOf(o) });
    }
    if (!o.region) throw new InvalidArgumentError("required option '--region <name>' not specified");
    // Name the directory and the file that would define the region: the fix
    // is either a typo in --region or a missing file.
    const { loadTopology } = await import("../topology/load.js");
    const topo = loadTopology(o.regions);
    if (!topo.regions.some((r) => r.name === o.region)) {
      const known = topo.regions.map((r) => r.name).join(", ");
      throw new ConfigError("--region", `unknown region "${o.region}" (no file ${join(o.regions, `${o.region}.json`)}; known: ${known})`);
    }
    return (await import("./node.js")).runNode(o);
  });

deploymentCommand("dashboard", "serve the live web dashboard of a deployment on loopback (regent up serves one too)")
  .option("--host <addr>", "listen address", "127.0.0.1")
  .option("--port <port>", "listen port (if taken, any free port; the URL is printed)", parsePort, 4281)
  .action(async (o) => {
    const { loadTopology } = await import("../topology/load.js");
    let topology;
    try {
      topology = loadTopology(o.regions);
    } catch {
      topology = undefined; // lease bars need it; the rest comes from the bus
    }
    if (!o.cluster && !topology) throw new InvalidArgumentError(`--cluster is required without a readable regions directory (${o.regions})`);
    return (await import("./dashboard.js")).runDashboard({ ...o, cluster: o.cluster ?? topology!.cluster, topology });
  });

deploymentCommand("status", "show regional leaders, the global leader and scope leases (asks a node on the bus)")
  .option("--json", "machine-readable output")
  .option("--timeout-ms <ms>", "how long to wait for an answer", parseMs, 3000)
  .action(async (o) => (await import("./observe-cmds.js")).runStatus({ ...o, cluster: await clusterOf(o) }));

deploymentCommand("watch", "tail leader and scope events (decoded msgpack)")
  .option("--json", "one JSON object per line")
  .option("--replay", "print the recorded history from the events stream first")
  .action(async (o) => (await import("./observe-cmds.js")).runWatch({ ...o, cluster: await clusterOf(o) }));

deploymentCommand("resign", "ask a leader to hand over gracefully")
  .option("--region <name>", "the regional leader of this region")
  .option("--global", "the global leader (it stays regional leader)")
  .option("--json", "machine-readable output")
  .option("--timeout-ms <ms>", "how long to wait for the leader", parseMs, 5000)
  .action(async (o) => (await import("./observe-cmds.js")).runResign({ ...o, cluster: await clusterOf(o) }));

program
  .command("compose")
  .description("write docker-compose.yml and deploy/nats/*.conf (the container demo) from regions/")
  .addOption(regionsDir())
  .addOption(mode())
  .option("-o, --out <file>", "compose file to write; configs go to deploy/nats/ next to it", "docker-compose.yml")
  .option("--check", "write nothing; exit non-zero if the files on disk differ from what would be written")
  .action(async (o) => (await import("./compose.js")).runCompose(o));

program
  .command("access")
  .description("print the nats-server config (account, nkey users, permissions, TLS) that secures a NATS deployment for regent")
  .addOption(regionsDir())
  .addOption(mode())
  .option("--secrets <dir>", "also make the CA, server certificate and nkeys there (only what is missing)")
  .option("--hostname <name...>", "with --secrets: DNS names the server certificate must cover (besides localhost, 127.0.0.1)")
  .action(async (o) => (await import("./access.js")).runAccess(o));

// One scope move, two commands: by hand to `--to` (pinned there), or back home.
for (const [name, reason, description] of [
  ["failover", "manual", "move a scope to another region by hand (recall, release, grant: zero overlap); it stays there (pinned) until `regent failback` or the loss of that region"],
  ["failback", "failback", "move a scope back to its home region now (recall, release, grant); clears a manual pin"],
] as const) {
  const move = program.command(name).description(description).argument("<scope>", "scope name (a region name)");
  if (reason === "manual") move.requiredOption("--to <region>", "target region (must have a live regional leader)");
  move
    .addOption(servers())
    .addOption(cluster())
    .addOption(regionsDir())
    .option("--json", "machine-readable output")
    .option("--timeout-ms <ms>", "how long to wait for the move", parseMs, 15000)
    .action(async (scope, o) => (await import("./observe-cmds.js")).runMove({ ...o, scope, reason, cluster: await clusterOf(o) }));
}

program
  .command("drill")
  .description("region-failover exercise on a local deployment: inject a fault, measure recovery, check the oracle and fenced writes, write a report")
  .addArgument(new Argument("<scenario>", "a scenario, or all").choices([...SCENARIOS, "all"]))
  .addOption(regionsDir())
  .option("-o, --out <dir>", "reports go to <dir>/<scenario>-<timestamp>/", "drills")
  .option("--global", "kill-leader/pause-leader: hit the global leader instead of a regional one")
  .option("--region <name>", "region to hit (default: chosen by the scenario)")
  .option("--skew-in <faketime>", "clock-skew: faketime spec inside the drift bound", "+1h x0.995")
  .option("--skew-out <faketime>", "clock-skew: faketime spec outside the drift bound", "x0.4")
  .option("--flaps <n>", "churn: freeze/thaw cycles", parseCount, 6)
  .option("--nats-ping <interval>", "partition-region: nats-server ping_interval (\"default\" = the server's 2m)", "1s")
  .option("--runs <n>", "run each scenario this many times", parseCount, 1)
  .option("--summary <file>", "write the summary table (median/max recovery, verdicts, fenced writes) into this markdown file")
  .option("--keep-raw", "keep every node's intervals and act log in the report directory")
  .option("--json", "one JSON line per run")
  .option("-v, --verbose", "progress on stderr")
  .action(async (scenario, o) => (await import("../drills/cli.js")).runDrillCli(scenario, o));

// Every command that connects to NATS takes the nats CLI's credential options.
for (const c of program.commands) if (["elect", "node", "status", "watch", "resign", "failover", "failback", "dashboard"].includes(c.name())) addAuthOptions(c);

program.parseAsync(process.argv).catch((err: unknown) => {
  // --help and --version end parsing through an error too; the help shown
  // for a missing subcommand is a usage error, already printed.
  if (err instanceof CommanderError && ["commander.helpDisplayed", "commander.version", "commander.help"].includes(err.code)) {
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  process.exit(reportError(err, jsonRequested(process.argv)));
});
