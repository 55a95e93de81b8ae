/**
 * An election's log lines, without a pino logger of its own. A pino child
 * per election (bindings `election` and `id`) cost ~4 KB of live heap and a
 * dozen hidden classes each, even when silent: at 10,000 elections per
 * process that was a sixth of the heap (BENCHMARKS.md, "Scale"). Here the
 * bindings go into each line's object instead, which pino writes the same way
 * (`election` and `id` right after the base bindings), and a level that is
 * off costs one check. Elections given no logger share one silent logger.
 */
import { silentLogger, type Logger } from "../observability/logger.js";

export type LogLevel = "debug" | "info" | "warn" | "error";

let sharedSilent: Logger | undefined;

export class ElectionLog {
  private readonly base: Logger;

  constructor(
    logger: Logger | undefined,
    private readonly election: string,
    private readonly id: string,
  ) {
    this.base = logger ?? (sharedSilent ??= silentLogger());
  }

  write(level: LogLevel, obj: Record<string, unknown>, msg: string): void {
    if (!this.base.isLevelEnabled(level)) return;
    this.base[level]({ election: this.election, id: this.id, ...obj }, msg);
  }
}
