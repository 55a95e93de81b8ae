/**
 * The candidate pool shared by bench/compare.ts and bench/election.ts: three
 * candidate processes of one election (regent: `regent elect --json
 * --trace-handover`; etcd: bench/etcd-candidate.ts), the steady-leader rule,
 * one handover round and one crash round, and the per-hop breakdown of both
 * from the regent candidates' `hop` lines (src/cli/trace-store.ts). Every
 * timestamp is a CLOCK_MONOTONIC reading shared by all processes.
 */
import { fileURLToPath } from "node:url";
import { AbortedError } from "../src/errors.js";
import { CandidateProcess, RegentProcess, type CandidateEvent } from "../src/launcher/candidates.js";
import { sleep } from "../src/launcher/nats-launcher.js";
import { monotonicNowMs } from "../src/util/clock.js";
import { round } from "./stats.js";

export type SystemName = "regent" | "etcd";

/** Handover hops (regent only; ms between consecutive stamps, see {@link HOPS}). */
export type HandoverHops = Record<(typeof HOPS)[number], number>;
/**
 * resign written → received by the leader (stdin pipe, its event loop) →
 * deposed emitted → release write sent → release delivered to the successor's
 * watch (the server stores it and pushes it) → successor's CAS sent → CAS
 * acknowledged → `elected` printed. `releaseAck`: the leader's own round trip
 * of the release, beside the chain.
 */
export const HOPS = ["stdin", "deposed", "releaseSend", "watchDelivery", "casSend", "casAck", "electedEmit", "releaseAck"] as const;

export type HandoverRound = {
  round: number;
  from: string;
  to: string;
  token: number;
  deposedToElectedMs: number;
  resignToElectedMs: number;
  hops?: HandoverHops;
};
/**
 * `lastRenewAgoMs`: how long before the kill the leader's last renewal was acknowledged; failover ≈ lease − that.
 * regent only: `observedAfterKillMs` (successor saw the last revision this long after the kill; negative: before),
 * `waitMs` (from that observation to its takeover CAS: the full lease plus timer lateness) and `casMs` (CAS sent → elected).
 */
export type FailoverRound = {
  round: number;
  killed: string;
  successor: string;
  token: number;
  failoverMs: number;
  ratio: number;
  lastRenewAgoMs: number;
  observedAfterKillMs?: number;
  waitMs?: number;
  casMs?: number;
};

/** Where the pool's candidates connect. */
export interface PoolCtx {
  natsUrl: string;
  etcdUrl?: string;
  /** Every candidate ever spawned, so the final teardown misses none. */
  registry: Set<RegentProcess>;
  log: (line: string) => void;
  signal: AbortSignal | undefined;
}

export const CANDIDATES = 3;
const ETCD_CANDIDATE = fileURLToPath(new URL("./etcd-candidate.ts", import.meta.url));

/** tsx's loader as an absolute URL, so a TypeScript child process starts whatever the cwd is. */
export function tsxImport(): string {
  return import.meta.resolve("tsx");
}

/** Last events (and stderr of the dead) of each candidate, for error messages. */
export function describe(cands: readonly RegentProcess[]): string {
  const ev = (e: CandidateEvent) => `${e.type}${e.leader !== undefined ? `:${e.leader}` : ""}${e.token != null ? `#${e.token}` : ""}`;
  const state = (c: RegentProcess) => (c.running ? "running" : `exited ${c.proc.exitCode ?? c.proc.signalCode}\n    stderr: ${c.stderr.slice(-600).trim()}\n   `);
  const line = (c: RegentProcess) => `  ${c.id} [${state(c)}] ${c.events.filter((e) => e.type !== "hop").slice(-6).map(ev).join(" ")}`;
  return cands.map(line).join("\n");
}

/**
 * Resolves with `probe()`'s first defined value, re-probing whenever one of
 * `cands` prints or exits. Honours an AbortSignal (SIGINT tears down
 * promptly) and leaves no timer behind. A throwing probe rejects at once: a
 * candidate that died unexpectedly should not cost a timeout.
 */
export function until<T>(cands: readonly RegentProcess[], probe: () => T | undefined, timeoutMs: number, what: string, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const offs: (() => unknown)[] = [];
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      offs.forEach((off) => off());
      signal?.removeEventListener("abort", onAbort);
      fn();
    };
    const onAbort = () => finish(() => reject(new AbortedError(`${what}: aborted`, { cause: signal?.reason })));
    const check = () => {
      let v: T | undefined;
      try {
        v = probe();
      } catch (err) {
        return finish(() => reject(err));
      }
      if (v !== undefined) finish(() => resolve(v));
    };
    const timer = setTimeout(() => finish(() => reject(new Error(`${what}: not reached within ${timeoutMs} ms\n${describe(cands)}`))), timeoutMs);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    for (const c of cands) offs.push(c.onChange(check));
    check();
  });
}

/** Earliest `elected` among `cands` after the event index recorded in `from`. */
export function firstElected<C extends RegentProcess>(cands: readonly C[], from: Map<C, number>): { c: C; e: CandidateEvent } | undefined {
  let best: { c: C; e: CandidateEvent } | undefined;
  for (const c of cands) {
    const e = c.events.slice(from.get(c) ?? 0).find((x) => x.type === "elected");
    if (e && (!best || e.t < best.e.t)) best = { c, e };
  }
  return best;
}

/** How long `c` has watched `leader`'s term `token` (since its first `leader-changed` naming it). */
function watchedFor(c: RegentProcess, leader: RegentProcess, token: number | undefined): number {
  const seen = c.events.find((e) => e.type === "leader-changed" && e.leader === leader.id && e.token === token);
  return seen ? monotonicNowMs() - seen.t : -1;
}

/** The candidates of one election of one system; replacements get fresh ids. */
export class CandidatePool {
  readonly all: RegentProcess[] = [];
  /** Killed on purpose: their exit is not an error. */
  readonly killed = new Set<RegentProcess>();
  /** Explicit renew = lease/3 (regent's default; etcd3 keeps its lease alive every TTL/3), so the recorded figure is the one that ran. */
  readonly renewMs: number;
  private n = 0;

  constructor(
    private readonly ctx: PoolCtx,
    readonly system: SystemName,
    readonly name: string,
    readonly leaseMs: number,
    private readonly bucket = "bench",
  ) {
    this.renewMs = Math.floor(leaseMs / 3);
    for (let i = 0; i < CANDIDATES; i++) this.spawn();
  }

  spawn(): RegentProcess {
    const id = `${this.system === "regent" ? "" : "etcd-"}${this.name}-${++this.n}`;
    const c =
      this.system === "regent"
        ? new CandidateProcess({
            ...{ id, servers: [this.ctx.natsUrl], key: `${this.bucket}.${this.name}`, bucket: this.bucket },
            ...{ leaseMs: this.leaseMs, renewMs: this.renewMs, extra: ["--trace-handover"] },
          })
        : new RegentProcess(id, ["--endpoints", this.ctx.etcdUrl!, "--name", `${this.bucket}-${this.name}`, "--id", id, "--ttl", String(this.leaseMs / 1000)], {
            self: { command: process.execPath, args: ["--import", tsxImport(), ETCD_CANDIDATE] },
          });
    this.all.push(c);
    this.ctx.registry.add(c);
    return c;
  }

  get live(): RegentProcess[] {
    return this.all.filter((c) => !this.killed.has(c));
  }

  assertAlive(): void {
    const dead = this.live.filter((c) => !c.running);
    if (dead.length) throw new Error(`candidate exited unexpectedly:\n${describe(dead)}`);
  }

  /**
   * The single leader once every follower is ready to take over and the
   * leader renewed `renewals` times in its term. A regent follower is ready
   * when its latest `leader-changed` names this leader and token (it watches
   * the lease); an etcd follower when its latest campaign line is `watching`
   * (its delete-watch on its predecessor's key exists).
   */
  steadyLeader(renewals: number): RegentProcess | undefined {
    this.assertAlive();
    const leaders = this.live.filter((c) => c.leading);
    if (leaders.length !== 1) return undefined;
    const l = leaders[0]!;
    const token = l.token;
    const ready =
      this.system === "regent"
        ? (c: RegentProcess) => {
            const v = c.events.findLast((e) => e.type === "leader-changed");
            return v?.leader === l.id && v.token === token;
          }
        : (c: RegentProcess) => c.events.findLast((e) => ["ready", "watching", "elected", "deposed", "error"].includes(e.type))?.type === "watching";
    if (!this.live.every((c) => c === l || ready(c))) return undefined;
    // A regent follower takes a release in milliseconds once it trusts the
    // term: it saw it start, or has watched it for a full lease (docs/safety.md,
    // R9). Followers that lost the race into it only trust it after the lease,
    // so measure handovers of terms some follower trusts, as in steady state.
    if (this.system === "regent" && !this.live.some((c) => c !== l && watchedFor(c, l, token) >= this.leaseMs + 100)) return undefined;
    const term = l.events.slice(l.events.findLastIndex((e) => e.type === "elected"));
    return term.filter((e) => e.type === "renewed" && e.token === token).length >= renewals ? l : undefined;
  }

  stop = () => Promise.all(this.all.map((c) => c.stop()));
}

/** One graceful handover: the steady leader is told `resign`; measured to the successor's `elected`. */
export async function handoverRound(ctx: PoolCtx, pool: CandidatePool, r: number, rounds: number, kind = "handover"): Promise<HandoverRound> {
  const tag = `${pool.system} ${kind} ${pool.leaseMs} ms ${r}/${rounds}`;
  const leader = await until(pool.live, () => pool.steadyLeader(0), 30_000 + 3 * pool.leaseMs, `${tag}: a steady leader`, ctx.signal);
  const others = pool.live.filter((c) => c !== leader);
  const from = new Map(pool.live.map((c) => [c, c.events.length] as const));
  const sentAt = monotonicNowMs();
  leader.send("resign");
  // A failed release would leave successors waiting out the lease: give that room so it shows up as a slow sample, not a crash.
  const done = () => {
    pool.assertAlive();
    const d = leader.events.slice(from.get(leader)).find((e) => e.type === "deposed");
    const s = firstElected(others, from);
    return d && s ? ([d, s] as const) : undefined;
  };
  const [dep, succ] = await until(pool.live, done, 3 * pool.leaseMs + 10_000, `${tag}: successor of ${leader.id}`, ctx.signal);
  if (dep.reason !== "resigned") throw new Error(`${tag}: ${leader.id} deposed for "${dep.reason}", expected "resigned"`);
  const s: HandoverRound = {
    round: r,
    from: leader.id,
    to: succ.c.id,
    token: succ.e.token!,
    deposedToElectedMs: round(succ.e.t - dep.t),
    resignToElectedMs: round(succ.e.t - sentAt),
  };
  if (pool.system === "regent") {
    // The hop lines are printed ~20 ms after the fact, off the measured path.
    const hops = await until([leader, succ.c], () => handoverHops(leader, succ.c, from, sentAt, dep, succ.e), 2_000, `${tag}: hop lines`, ctx.signal).catch(() => undefined);
    if (hops) s.hops = hops;
  }
  ctx.log(`${tag}: ${s.from} → ${s.to} in ${s.deposedToElectedMs.toFixed(1)} ms (${s.resignToElectedMs.toFixed(1)} ms from resign)`);
  return s;
}

const hopsOf = (c: RegentProcess, from: number) => c.events.slice(from).filter((e) => e.type === "hop");

/** The chain of one handover from the resigner's and the successor's hop lines; undefined until they are all printed. */
function handoverHops(leader: RegentProcess, succ: RegentProcess, from: Map<RegentProcess, number>, sentAt: number, dep: CandidateEvent, elected: CandidateEvent): HandoverHops | undefined {
  const lh = hopsOf(leader, from.get(leader) ?? 0);
  const received = lh.find((h) => h.hop === "resign-received");
  const relSent = lh.find((h) => h.hop === "write-sent" && h.t >= dep.t);
  const relAck = relSent && lh.find((h) => h.t >= relSent.t && (h.hop === "write-acked" || h.hop === "write-failed"));
  if (!received || !relAck || relAck.hop !== "write-acked") return undefined;
  const sh = hopsOf(succ, from.get(succ) ?? 0);
  const seen = sh.find((h) => h.hop === "watch-entry" && h.revision === relAck.revision);
  const cas = seen && sh.find((h) => h.hop === "write-sent" && h.t >= seen.t);
  const casAck = cas && sh.find((h) => h.hop === "write-acked" && h.t >= cas.t);
  if (!seen || !cas || !casAck) return undefined;
  const ms = (a: number, b: number) => round(b - a, 3);
  return {
    stdin: ms(sentAt, received.t),
    deposed: ms(received.t, dep.t),
    releaseSend: ms(dep.t, relSent!.t),
    watchDelivery: ms(relSent!.t, seen.t),
    casSend: ms(seen.t, cas.t),
    casAck: ms(cas.t, casAck.t),
    electedEmit: ms(casAck.t, elected.t),
    releaseAck: ms(relSent!.t, relAck.t),
  };
}

/** One crash failover: the steady leader SIGKILLed at a uniformly random point of one renew interval. */
export async function crashRound(ctx: PoolCtx, pool: CandidatePool, r: number, rounds: number): Promise<FailoverRound> {
  const tag = `${pool.system} crash ${pool.leaseMs} ms ${r}/${rounds}`;
  // Steady state: a replacement that has not yet seen the leader, or a leader
  // that never renewed, would measure start-up, not failover.
  const steady = () => until(pool.live, () => pool.steadyLeader(2), 30_000 + 5 * pool.leaseMs, `${tag}: steady leader`, ctx.signal);
  await steady();
  // Real crashes are not aligned with renewals; killing right after the
  // renewal just waited for would always measure the worst case.
  await sleep(Math.random() * pool.renewMs, ctx.signal);
  const leader = await steady(); // normally at once; re-checks nothing changed during the pause
  const survivors = pool.live.filter((c) => c !== leader);
  const from = new Map(survivors.map((c) => [c, c.events.length] as const));
  const lastRenew = leader.events.findLast((e) => e.type === "renewed")!.t;
  pool.killed.add(leader);
  const killedAt = await leader.signal("SIGKILL");
  const succ = await until(survivors, () => (pool.assertAlive(), firstElected(survivors, from)), 3 * pool.leaseMs + 10_000, `${tag}: successor of ${leader.id}`, ctx.signal);
  const failoverMs = succ.e.t - killedAt;
  const s: FailoverRound = {
    round: r,
    killed: leader.id,
    successor: succ.c.id,
    token: succ.e.token!,
    failoverMs: round(failoverMs),
    ratio: round(failoverMs / pool.leaseMs, 4),
    lastRenewAgoMs: round(killedAt - lastRenew),
  };
  if (pool.system === "regent") {
    const parts = await until([succ.c], () => takeoverParts(succ.c, succ.e), 2_000, `${tag}: hop lines`, ctx.signal).catch(() => undefined);
    if (parts) Object.assign(s, { observedAfterKillMs: round(parts.observedAt - killedAt), waitMs: round(parts.casAt - parts.observedAt), casMs: round(succ.e.t - parts.casAt) });
  }
  ctx.log(`${tag}: ${s.killed} killed → ${s.successor} in ${s.failoverMs.toFixed(0)} ms (×${s.ratio.toFixed(3)} lease)`);
  pool.spawn(); // always three candidates
  return s;
}

/**
 * The successor's takeover CAS (the last write it sent before `elected`) and
 * when it first observed the revision that CAS replaced (watch or read).
 */
function takeoverParts(succ: RegentProcess, elected: CandidateEvent): { observedAt: number; casAt: number } | undefined {
  const hops = succ.events.filter((e) => e.type === "hop");
  const cas = hops.findLast((h) => h.hop === "write-sent" && h.t <= elected.t);
  if (!cas || !hops.some((h) => h.hop === "write-acked" && h.t >= cas.t)) return undefined;
  const seen = hops.find((h) => (h.hop === "watch-entry" || h.hop === "get-done") && h.revision === cas.revision);
  return seen ? { observedAt: seen.t, casAt: cas.t } : undefined;
}
