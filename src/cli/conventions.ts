/**
 * The conventions every `regent` command follows, in one place: an
 * environment variable for every option, exit codes by kind of failure, and
 * errors as one line on stderr (a JSON object under `--json`). README's CLI
 * section documents them; test/cli/conventions.test.ts holds them.
 */
import { Command, CommanderError, Option } from "commander";
import { ErrorCode, RegentError } from "../errors.js";

/** Process exit codes. Scripts may branch on them: 4 is worth a retry, 2, 3 and 5 are not as is. */
export const ExitCode = {
  Ok: 0,
  /** Anything not below (a failed check, an unexpected error). */
  Failure: 1,
  /** The command line is wrong: unknown command or option, bad or missing value. */
  Usage: 2,
  /** Configuration is invalid: regions/ files, credentials, timing rules. */
  Config: 3,
  /** NATS or the deployment cannot be reached, or nobody answered in time. */
  Unavailable: 4,
  /** The deployment answered no: not the leader, NATS permission denied, move declined. */
  Refused: 5,
} as const;

/** Exit code for an error thrown by a command. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
  if (err instanceof RegentError) {
    switch (err.code) {
      case ErrorCode.InvalidConfig:
        return ExitCode.Config;
      case ErrorCode.StoreUnavailable:
      case ErrorCode.BucketMissing:
        return ExitCode.Unavailable;
      case ErrorCode.NotLeader:
      case ErrorCode.Refused:
        return ExitCode.Refused;
    }
  }
  return ExitCode.Failure;
}

/** The `code` of a JSON error: a {@link ErrorCode}, `USAGE`, or `FAILED`. */
export function errorCodeOf(err: unknown): string {
  if (err instanceof CommanderError) return "USAGE";
  if (err instanceof RegentError) return err.code;
  return "FAILED";
}

/** The message without commander's `error: ` prefix, on one line (its "(Did you mean …?)" folded in). */
function messageOf(err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  return raw.replace(/^error: /, "").trim().replace(/\s*\n\s*/g, " ");
}

/**
 * Writes a failure to stderr: `regent: <message>` for people, or
 * `{"error":{"code","message","exitCode"}}` under `--json`, so a script
 * reading JSON lines never has to parse prose. Returns the exit code.
 */
export function reportError(err: unknown, json: boolean): number {
  const exitCode = exitCodeOf(err);
  const code = errorCodeOf(err);
  const message = messageOf(err);
  if (json) {
    process.stderr.write(JSON.stringify({ error: { code, message, exitCode } }) + "\n");
  } else {
    const suffix = code === "USAGE" ? " (run with --help for usage)" : err instanceof RegentError ? ` [${code}]` : "";
    process.stderr.write(`regent: ${message}${suffix}\n`);
  }
  return exitCode;
}

/** Environment variable of an option: `--lease-ms` is `REGENT_LEASE_MS`. */
export function envName(option: Option): string {
  return `REGENT_${option.long!.replace(/^--/, "").replace(/-/g, "_").toUpperCase()}`;
}

/** Values that turn a boolean option's variable off (commander treats any set variable as on). */
const OFF = new Set(["", "0", "false", "no", "off"]);

/**
 * A commander Command whose every option, however it is added, also reads
 * its environment variable (shown in `--help`); options that name their own
 * (`--servers`: NATS_URL, credentials: NATS_*) keep it.
 */
export class RegentCommand extends Command {
  override createCommand(name?: string): RegentCommand {
    return new RegentCommand(name);
  }

  override addOption(option: Option): this {
    if (!option.envVar && option.long) option.env(envName(option));
    return super.addOption(option);
  }
}

/**
 * Installs the hook that lets `REGENT_JSON=0` (and `false`, `no`, `off`,
 * empty) mean off: commander turns a boolean option on whenever its variable
 * is set, whatever the value.
 */
export function honourBooleanEnvOff(program: Command): void {
  program.hook("preAction", (_root, cmd) => {
    for (const o of cmd.options) {
      if (o.required || o.optional || !o.envVar) continue;
      const key = o.attributeName();
      if (cmd.getOptionValueSource(key) !== "env") continue;
      if (OFF.has((process.env[o.envVar] ?? "").trim().toLowerCase())) cmd.setOptionValueWithSource(key, o.negate ? true : undefined, "default");
    }
  });
}

/** Was `--json` asked for (argument or REGENT_JSON)? Read from argv: errors may come before or during parsing. */
export function jsonRequested(argv: string[]): boolean {
  const args = argv.slice(2);
  const end = args.indexOf("--");
  if ((end === -1 ? args : args.slice(0, end)).includes("--json")) return true;
  const env = process.env.REGENT_JSON;
  return env !== undefined && !OFF.has(env.trim().toLowerCase());
}
