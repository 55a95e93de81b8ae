/**
 * Logging. Library code accepts a {@link Logger} and defaults to
 * {@link silentLogger}, so embedding regent never prints anything unless the
 * application passes a logger in; the CLI and drills use {@link createLogger}.
 */
import { pino } from "pino";

/** The logger type used throughout regent (a pino logger). */
export type Logger = pino.Logger;

/** Log level names accepted by {@link createLogger}. */
export type LogLevel = pino.Level | "silent";

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  /** Minimum level; default `$REGENT_LOG_LEVEL` or `"info"`. */
  level?: LogLevel;
  /** Added to every line as `name`, e.g. the participant id. */
  name?: string;
  /** Where to write; default stderr, keeping stdout free for command output. */
  destination?: pino.DestinationStream;
}

/**
 * Creates a JSON-lines logger. The default destination writes synchronously,
 * so the last lines before a crash or SIGKILL are not lost in a buffer; in
 * drills those are exactly the lines that matter.
 */
export function createLogger(opts: CreateLoggerOptions = {}): Logger {
  const level = opts.level ?? envLevel() ?? "info";
  const options: pino.LoggerOptions = { level };
  if (opts.name !== undefined) options.name = opts.name;
  return pino(options, opts.destination ?? pino.destination({ dest: 2, sync: true }));
}

/** A logger that discards everything: the library default and for tests. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

function envLevel(): LogLevel | undefined {
  const v = process.env.REGENT_LOG_LEVEL;
  const levels: readonly string[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
  return v !== undefined && levels.includes(v) ? (v as LogLevel) : undefined;
}
