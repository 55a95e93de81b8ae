/**
 * The `regent` command line. Each subcommand lives in its own file; this one
 * only declares arguments (commander validates them and prints `--help`).
 */
import { Command, Option } from "commander";
import { RegentError } from "../errors.js";
import { parseCount, parseDrift, parseMs } from "./common.js";

const program = new Command()
  .name("regent")
  .description("Multi-region leader election with fencing tokens on NATS JetStream")
  .showHelpAfterError("(run with --help for usage)")
  .configureOutput({ outputError: (str, write) => write(`regent: ${str.replace(/^error: /, "")}`) });

const servers = () => new Option("-s, --servers <urls>", "NATS server URLs, comma separated (default $NATS_URL or nats://127.0.0.1:4222)");

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
  .option("--log-level <level>", "pino log level on stderr", "warn")
  .action(async (o) => (await import("./elect.js")).runElect(o));

program
  .command("demo")
  .description("local demo: a nats-server, three candidate processes, a leader kill and a resign")
  .option("--lease-ms <ms>", "lease duration", parseMs, 2000)
  .option("--candidates <n>", "candidate processes", parseCount, 3)
  .action(async (o) => (await import("./demo.js")).runDemo(o));

program.parseAsync(process.argv).catch((err: unknown) => {
  const msg = err instanceof RegentError ? `${err.message} [${err.code}]` : err instanceof Error ? err.message : String(err);
  process.stderr.write(`regent: ${msg}\n`);
  process.exit(1);
});
