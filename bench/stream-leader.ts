/**
 * Stream-leader loss: a 3-server JetStream cluster, the lease bucket at R3,
 * two `regent elect` candidates at lease 10 s (as in
 * test/integration/election-r3.test.ts), once with regent's default renew
 * interval (lease/3) and once with the test's 1 s. Each kill waits for a steady leader and a
 * random pause within one renew interval, SIGKILLs the server leading the
 * bucket's stream, and watches until the holder renewed three times after
 * JetStream elected a new stream leader. Reports the leadership changes
 * (elected/deposed lines; target 0) and the longest gap between the holder's
 * successful renewals across the outage. The server is restarted between kills.
 */
import { CandidateProcess } from "../src/launcher/candidates.js";
import { serverIndex, sleep, startNatsCluster, waitForStreamLeader, type NatsServerHandle } from "../src/launcher/nats-launcher.js";
import { monotonicNowMs } from "../src/util/clock.js";
import { resolveTiming } from "../src/election/timing.js";
import { until } from "./pool.js";
import { round, summarize, type Stats } from "./stats.js";

export interface StreamLeaderOptions {
  /** Stream-leader kills per renew interval (default 3; 1 quick). */
  kills?: number;
  leaseMs?: number;
  /**
   * Renew intervals to measure, each on a fresh cluster. Default: regent's
   * default (lease/3) and 1 000 ms (what test/integration/election-r3.test.ts
   * uses); quick: 1 000 ms only.
   */
  renewsMs?: number[];
  quick?: boolean;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface StreamLeaderKill {
  kill: number;
  holder: string;
  streamLeader: string;
  newStreamLeader: string;
  /** Kill → a new stream leader visible on the monitoring endpoints. */
  streamLeaderElectionMs: number;
  /** elected/deposed lines of any candidate from the kill until three renewals after the new stream leader. */
  leadershipChanges: number;
  /** Longest gap between consecutive successful lease writes (the holder's renewals, or a successor's election), from the last renewal before the kill on. */
  longestRenewalGapMs: number;
  /** Renewal attempts that failed meanwhile (`error` lines of the holder). */
  failedRenewals: number;
}

export interface StreamLeaderConfigResult {
  settings: { kills: number; servers: 3; replicas: 3; candidates: number; leaseMs: number; renewMs: number; validForMs: number };
  kills: StreamLeaderKill[];
  leadershipChanges: number;
  longestRenewalGapMs: Stats;
}

export interface StreamLeaderResult {
  benchmark: "stream-leader";
  quick: boolean;
  configs: StreamLeaderConfigResult[];
}

const STREAM = "KV_bench-r3";

export async function runStreamLeaderBench(opts: StreamLeaderOptions = {}): Promise<StreamLeaderResult> {
  const quick = opts.quick ?? false;
  const leaseMs = opts.leaseMs ?? 10_000;
  const renews = opts.renewsMs ?? (quick ? [1_000] : [resolveTiming({ leaseMs }).renewMs, 1_000]);
  const configs: StreamLeaderConfigResult[] = [];
  for (const renewMs of renews) configs.push(await runConfig(opts, quick, leaseMs, renewMs));
  return { benchmark: "stream-leader", quick, configs };
}

async function runConfig(opts: StreamLeaderOptions, quick: boolean, leaseMs: number, renewMs: number): Promise<StreamLeaderConfigResult> {
  const kills = opts.kills ?? (quick ? 1 : 3);
  const timing = resolveTiming({ leaseMs, renewMs });
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  let cluster: NatsServerHandle | undefined;
  const cands: CandidateProcess[] = [];
  const out: StreamLeaderKill[] = [];
  try {
    cluster = await startNatsCluster({ size: 3, name: "bench-r3", ...(opts.signal ? { signal: opts.signal } : {}) });
    for (const id of ["p", "q"]) {
      cands.push(new CandidateProcess({ id, servers: cluster.urls, key: "r3.leader", bucket: "bench-r3", replicas: 3, leaseMs, renewMs: timing.renewMs }));
    }
    log(`stream-leader: 3-server cluster, R3 bucket, lease ${leaseMs} ms, renew ${timing.renewMs} ms, ${cands.length} candidates`);
    const steady = (renewals: number) =>
      until(
        cands,
        () => {
          const ls = cands.filter((c) => c.leading);
          if (ls.length !== 1) return undefined;
          const l = ls[0]!;
          const sees = cands.every((c) => c === l || c.events.findLast((e) => e.type === "leader-changed")?.leader === l.id);
          const term = l.events.slice(l.events.findLastIndex((e) => e.type === "elected"));
          return sees && term.filter((e) => e.type === "renewed").length >= renewals ? l : undefined;
        },
        60_000 + 5 * leaseMs,
        "stream-leader: steady leader",
        opts.signal,
      );
    for (let k = 1; k <= kills; k++) {
      await steady(2);
      await sleep(Math.random() * timing.renewMs, opts.signal);
      const holder = await steady(2);
      const lead = await waitForStreamLeader(cluster, STREAM, opts.signal ? { signal: opts.signal } : {});
      const marks = cands.map((c) => c.events.length);
      const lastBefore = holder.events.findLast((e) => e.type === "renewed" || e.type === "elected")!.t;
      const idx = serverIndex(cluster, lead);
      const killedAt = monotonicNowMs();
      await cluster.kill(idx, "SIGKILL");
      const newLead = await waitForStreamLeader(cluster, STREAM, { notIn: [lead], timeoutMs: 60_000, ...(opts.signal ? { signal: opts.signal } : {}) });
      const electedMs = monotonicNowMs() - killedAt;
      // Three renewals by whoever leads now (normally the same holder).
      const after = cands.map((c) => c.events.length);
      await until(
        cands,
        () => (cands.some((c, i) => c.leading && c.events.slice(after[i]).filter((e) => e.type === "renewed").length >= 3) ? true : undefined),
        60_000,
        "stream-leader: three renewals after the new stream leader",
        opts.signal,
      );
      const changes = cands.flatMap((c, i) => c.events.slice(marks[i]).filter((e) => e.type === "elected" || e.type === "deposed"));
      const hi = cands.indexOf(holder as CandidateProcess);
      // Successful lease writes by whoever held it (normally only the holder's renewals).
      const writes = cands.flatMap((c, i) => c.events.slice(marks[i]).filter((e) => e.type === "renewed" || e.type === "elected").map((e) => e.t));
      const renewTimes = [lastBefore, ...writes.sort((a, b) => a - b)];
      const gaps = renewTimes.slice(1).map((t, i) => t - renewTimes[i]!);
      const r: StreamLeaderKill = {
        kill: k,
        holder: holder.id,
        streamLeader: lead,
        newStreamLeader: newLead,
        streamLeaderElectionMs: round(electedMs, 0),
        leadershipChanges: changes.length,
        longestRenewalGapMs: round(gaps.length ? Math.max(...gaps) : Number.NaN, 0),
        failedRenewals: holder.events.slice(marks[hi]).filter((e) => e.type === "error").length,
      };
      out.push(r);
      log(
        `stream-leader renew ${timing.renewMs} ms ${k}/${kills}: killed ${lead} → ${newLead} after ${r.streamLeaderElectionMs} ms; ` +
          `${r.leadershipChanges} leadership changes; longest renewal gap ${r.longestRenewalGapMs} ms (${r.failedRenewals} failed attempts)`,
      );
      await cluster.restart(idx, { timeoutMs: 60_000 });
    }
  } finally {
    await Promise.all(cands.map((c) => c.stop()));
    await cluster?.stop();
  }
  return {
    settings: { kills, servers: 3, replicas: 3, candidates: 2, leaseMs, renewMs: timing.renewMs, validForMs: timing.validForMs },
    kills: out,
    leadershipChanges: out.reduce((s, k) => s + k.leadershipChanges, 0),
    longestRenewalGapMs: summarize(out.map((k) => k.longestRenewalGapMs), 0),
  };
}
