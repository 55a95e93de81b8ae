/**
 * Spawns `regent elect --json` / `regent node --json` processes and follows
 * their event lines. Shared by the demo, the integration tests, the benchmarks and the
 * drills: every participant is a real OS process on the shared
 * CLOCK_MONOTONIC, so timings across processes are comparable.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { selfCommand } from "./self.js";
import { monotonicNowMs } from "../util/clock.js";
import { LaunchFailedError } from "../errors.js";

/** One event line printed by `regent elect --json`. */
export interface CandidateEvent {
  type: string;
  id: string;
  /** Monotonic ms (shared CLOCK_MONOTONIC) when the candidate printed it. */
  t: number;
  token?: number;
  reason?: string;
  leader?: string | null;
  validUntil?: number;
  [k: string]: unknown;
}

/** Options for one candidate. */
export interface CandidateSpec {
  id: string;
  servers: string[];
  key: string;
  bucket?: string;
  leaseMs?: number;
  renewMs?: number;
  replicas?: number;
  intervalsFile?: string;
  actLog?: string;
  /** Extra CLI arguments. */
  extra?: string[];
  wrapper?: string[];
  self?: { command: string; args: string[] };
}

const live = new Set<ChildProcess>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const c of live) c.kill("SIGKILL");
  });
}

/** Arguments of `regent elect --json` for one candidate. */
function electArgs(spec: CandidateSpec): string[] {
  const args = ["elect", "--json", "--servers", spec.servers.join(","), "--key", spec.key, "--id", spec.id, "--bucket", spec.bucket ?? "regent"];
  if (spec.leaseMs) args.push("--lease-ms", String(spec.leaseMs));
  if (spec.renewMs) args.push("--renew-ms", String(spec.renewMs));
  if (spec.replicas) args.push("--replicas", String(spec.replicas));
  if (spec.intervalsFile) args.push("--intervals", spec.intervalsFile);
  if (spec.actLog) args.push("--act-log", spec.actLog);
  return [...args, ...(spec.extra ?? [])];
}

/** How to run a regent subcommand as a child process. */
export interface RegentProcessOptions {
  /** Wrap the command (e.g. `["faketime", "+1h"]`). */
  wrapper?: string[];
  /** Entry point to run instead of this package's `bin/regent.js`. */
  self?: { command: string; args: string[] };
  /** Default: this process's environment without its REGENT_* options ({@link childEnv}). */
  env?: NodeJS.ProcessEnv;
}

/**
 * This process's environment for a child configured by its arguments: the
 * REGENT_* option variables removed (REGENT_LOG_LEVEL and the tooling's own
 * REGENT_DRILL_*, REGENT_TEST_*, REGENT_NO_PDEATHSIG kept), so that e.g.
 * `REGENT_METRICS_PORT=9464 regent up` does not hand one port to every node.
 */
export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const keep = (k: string) => !k.startsWith("REGENT_") || k === "REGENT_LOG_LEVEL" || k === "REGENT_NO_PDEATHSIG" || /^REGENT_(DRILL|TEST)_/.test(k);
  return Object.fromEntries(Object.entries(env).filter(([k]) => keep(k)));
}

/** A running `regent <subcommand> --json` process whose stdout is one JSON event per line. */
export class RegentProcess {
  readonly id: string;
  readonly events: CandidateEvent[] = [];
  readonly proc: ChildProcess;
  private waiters = new Set<() => void>();
  private exited: Promise<number | null>;
  stderr = "";

  constructor(id: string, args: string[], opts: RegentProcessOptions = {}) {
    hookExit();
    this.id = id;
    const self = opts.self ?? selfCommand();
    const [cmd, ...pre] = opts.wrapper?.length ? [...opts.wrapper, self.command] : [self.command];
    this.proc = spawn(cmd!, [...pre, ...self.args, ...args], { stdio: ["pipe", "pipe", "pipe"], env: opts.env ?? childEnv() });
    live.add(this.proc);
    this.exited = new Promise((resolve) =>
      this.proc.on("exit", (code) => {
        live.delete(this.proc);
        this.notify();
        resolve(code);
      }),
    );
    createInterface({ input: this.proc.stdout! }).on("line", (line) => {
      try {
        this.events.push(JSON.parse(line) as CandidateEvent);
      } catch {
        return; // not an event line
      }
      this.notify();
    });
    this.proc.stderr!.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-20_000);
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Is it leader according to its own events (elected without a later deposed)? */
  get leading(): boolean {
    return this.leadingIn();
  }

  /** Leader of `tier` (node processes print `tier`; `elect` processes do not)? */
  leadingIn(tier?: string): boolean {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i]!;
      if (e.type === "stopped") return false;
      if (tier !== undefined && e.tier !== tier) continue;
      if (e.type === "elected") return this.running;
      if (e.type === "deposed") return false;
    }
    return false;
  }

  /** Latest token it was elected with (in `tier`, for node processes). */
  tokenIn(tier?: string): number | undefined {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i]!;
      if (e.type === "elected" && (tier === undefined || e.tier === tier)) return e.token;
    }
    return undefined;
  }

  get token(): number | undefined {
    return this.tokenIn();
  }

  /** Calls `fn` whenever this candidate prints an event or exits; returns the unsubscribe. */
  onChange(fn: () => void): () => void {
    this.waiters.add(fn);
    return () => this.waiters.delete(fn);
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves with the first event (from index `from`) matching `pred`. */
  waitForEvent(pred: (e: CandidateEvent) => boolean, opts: { timeoutMs?: number; from?: number } = {}): Promise<CandidateEvent> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      let from = opts.from ?? 0;
      const check = () => {
        for (; from < this.events.length; from++) {
          const e = this.events[from]!;
          if (pred(e)) return done(() => resolve(e));
        }
        if (!this.running) done(() => reject(new LaunchFailedError(`${this.id} exited (stderr: ${this.stderr.slice(-2000)})`)));
      };
      const timer = setTimeout(
        () => done(() => reject(new LaunchFailedError(`${this.id}: no matching event within ${timeoutMs} ms; events: ${JSON.stringify(this.events.slice(-10))}`))),
        timeoutMs,
      );
      const done = (fn: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        fn();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Sends a command line (`resign`, `stop`) on stdin. */
  send(cmd: string): void {
    this.proc.stdin?.write(cmd + "\n");
  }

  /** Sends a signal; for SIGKILL/SIGTERM resolves when the process exited. Returns the monotonic send time. */
  async signal(sig: NodeJS.Signals): Promise<number> {
    const at = monotonicNowMs();
    if (this.running) this.proc.kill(sig);
    if (sig === "SIGKILL" || sig === "SIGTERM" || sig === "SIGINT") await this.exited;
    return at;
  }

  /** Graceful stop (SIGTERM), SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.proc.kill("SIGCONT");
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

/** A `regent elect` candidate process. */
export class CandidateProcess extends RegentProcess {
  constructor(spec: CandidateSpec) {
    super(spec.id, electArgs(spec), spec);
  }
}

/** Waits until `pred` holds, re-checking whenever any of the processes prints. */
export function waitUntil(cands: RegentProcess[], pred: () => boolean, timeoutMs = 30_000, what = "condition"): Promise<void> {
  return new Promise((resolve, reject) => {
    const offs: (() => unknown)[] = [];
    const done = (fn: () => void) => {
      clearTimeout(timer);
      offs.forEach((o) => o());
      fn();
    };
    const check = () => {
      if (pred()) done(resolve);
    };
    const timer = setTimeout(() => done(() => reject(new LaunchFailedError(`${what}: not reached within ${timeoutMs} ms`))), timeoutMs);
    for (const c of cands) offs.push(c.onChange(check));
    check();
  });
}

/**
 * Resolves once some follower in `followers` has watched `leader`'s current
 * term for a full lease (plus `slackMs`), on the shared monotonic clock.
 * A follower that first saw a term mid-way (it joined late, or lost the race
 * into it) trusts that term's release only after watching it for a full
 * lease (docs/safety.md, R9): before that, a resign is waited out instead of
 * taken in milliseconds. The wait is the protocol's, anchored on the
 * follower's own `leader-changed` event.
 */
export async function untilTermTrusted(followers: RegentProcess[], leader: RegentProcess, leaseMs: number, slackMs = 200): Promise<void> {
  const token = leader.token;
  const seenAt = (c: RegentProcess) => c.events.find((e) => e.type === "leader-changed" && e.leader === leader.id && e.token === token)?.t;
  await waitUntil(followers, () => followers.some((c) => seenAt(c) !== undefined), 10_000, `a follower sees ${leader.id}'s term`);
  const earliest = Math.min(...followers.map(seenAt).filter((t): t is number => t !== undefined));
  const wait = earliest + leaseMs + slackMs - monotonicNowMs();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}
