/**
 * One `regent node --json` process of a {@link RegentHarness}: a
 * {@link RegentProcess} that knows its region and the files it records its
 * leadership intervals (`--intervals`) and guarded acts (`--act-log`) into.
 *
 * A node may run under libfaketime (the clock-skew drill). Its monotonic
 * clock then is not the shared CLOCK_MONOTONIC (libfaketime fakes
 * CLOCK_MONOTONIC too, as an epoch-based clock running at the given rate), so
 * its times are mapped back onto the shared clock: fake = A + rate × real,
 * with A estimated from its event lines, each stamped on arrival (see
 * {@link SharedClockMap}).
 */
import { RegentProcess, childEnv, type CandidateEvent, type RegentProcessOptions } from "./candidates.js";
import { withParentDeathSignal } from "./ports.js";
import { monotonicNowMs } from "../util/clock.js";
import { ConfigError } from "../errors.js";

/** libfaketime's preload library (Debian package `faketime`). */
export const LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/**
 * `setpriv --pdeathsig SIGKILL --` (Linux, when available): a node dies with
 * its parent even when the parent is SIGKILLed and cannot clean up. setpriv
 * execs, so the pid (and every signal sent to it) stays the node's.
 */
export function deathSignalPrefix(): string[] {
  const [cmd, args] = withParentDeathSignal("node", []);
  return cmd === "node" ? [] : [cmd, ...args.slice(0, -1)];
}

/** Normalises a faketime spec (`x0.5` → `+0 x0.5`, which libfaketime needs for a rate) and reads its rate. */
export function parseSkew(spec: string): { spec: string; rate: number } {
  const s = spec.trim().startsWith("x") ? `+0 ${spec.trim()}` : spec.trim();
  const m = /(?:^|\s)x([0-9]*\.?[0-9]+)\s*$/.exec(s);
  const rate = m ? Number(m[1]) : 1;
  if (!(rate > 0) || !Number.isFinite(rate)) throw new ConfigError("faketime", `bad rate in "${spec}" (a spec such as "+1h x0.995" or "x0.4")`);
  return { spec: s, rate };
}

/** What {@link SharedClockMap} reads of a process: its event lines and when they change. */
export type EventSource = Pick<RegentProcess, "events" | "onChange">;

/** Maps the times a (possibly faketime-skewed) process prints onto the shared monotonic clock. */
export class SharedClockMap {
  private readonly arrivals: number[] = [];
  /** faketime spec, when skewed. */
  readonly skew: { spec: string; rate: number } | undefined;

  constructor(
    private readonly source: EventSource,
    skew?: string,
  ) {
    this.skew = skew ? parseSkew(skew) : undefined;
    source.onChange(() => {
      const now = monotonicNowMs();
      while (this.arrivals.length < source.events.length) this.arrivals.push(now);
    });
  }

  /**
   * Identity unless skewed; then A = max(t − rate × arrival) over all event
   * lines (each line arrives after it was printed, so every sample bounds A
   * from below and the fastest delivery gives the tightest bound).
   */
  toShared(t: number): number {
    if (!this.skew) return t;
    const r = this.skew.rate;
    let a = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < this.arrivals.length; i++) a = Math.max(a, this.source.events[i]!.t - r * this.arrivals[i]!);
    return Number.isFinite(a) ? (t - a) / r : t;
  }
}

/** How to start one node. */
export interface HarnessNodeSpec {
  region: string;
  /** `regent node` arguments. */
  args: string[];
  intervalsFile: string;
  actsFile: string;
  /** Command prefix of the node (e.g. `ip netns exec <ns>`), reported with the drill's participants. */
  wrapper: string[];
  /** Run under `setpriv --pdeathsig SIGKILL` where available. */
  deathSignal: boolean;
  /** Environment before the faketime variables. */
  env?: NodeJS.ProcessEnv;
  /** faketime spec; the node runs with libfaketime preloaded. */
  skew?: string;
}

function launchOptions(spec: HarnessNodeSpec): RegentProcessOptions {
  const launch = [...spec.wrapper, ...(spec.deathSignal ? deathSignalPrefix() : [])];
  let env = spec.env;
  if (spec.skew) {
    // Preload directly rather than through the `faketime` binary, which
    // forks: signals must reach the node itself.
    env = { ...(env ?? childEnv()), LD_PRELOAD: LIBFAKETIME, FAKETIME: parseSkew(spec.skew).spec };
    delete env.FAKETIME_DONT_FAKE_MONOTONIC;
  }
  return { ...(launch.length ? { wrapper: launch } : {}), ...(env ? { env } : {}) };
}

/** One `regent node` process of the harness. */
export class HarnessNode extends RegentProcess {
  readonly region: string;
  readonly wrapper: string[];
  readonly intervalsFile: string;
  readonly actsFile: string;
  readonly clock: SharedClockMap;

  constructor(id: string, spec: HarnessNodeSpec) {
    super(id, spec.args, launchOptions(spec));
    this.region = spec.region;
    this.wrapper = spec.wrapper;
    this.intervalsFile = spec.intervalsFile;
    this.actsFile = spec.actsFile;
    this.clock = new SharedClockMap(this, spec.skew);
  }

  /** faketime spec, when skewed. */
  get skew(): { spec: string; rate: number } | undefined {
    return this.clock.skew;
  }

  /** Maps a time printed or recorded by this node onto the shared clock. */
  toShared(t: number): number {
    return this.clock.toShared(t);
  }

  /** Shared-clock time of an event of this node. */
  at(e: CandidateEvent): number {
    return this.toShared(e.t);
  }

  /** Does it hold `scope` by its own events (held/renewed without a later end)? */
  holds(scope: string): boolean {
    if (!this.running) return false;
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i]!;
      if (e.scope !== scope) continue;
      if (e.type === "scope-held" || e.type === "scope-renewed") return true;
      if (e.type === "scope-ended") return false;
    }
    return false;
  }
}
