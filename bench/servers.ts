/**
 * Single nats-server loss in full mode (issue 11: "Single nats-server
 * SIGKILL, full mode, every server in turn: 0 leadership changes and 0 scope
 * lapses at any tier"). The deployment of
 * test/integration/full-mode-server-loss.test.ts: 3 regions × 3 nats-servers,
 * 2 `regent node --mode full` per region, shipped regions/ timings. The
 * regional lease is a quorum lease over one R1 bucket per server of the
 * region; the global lease and the scopes one over each region's quorum
 * bucket, on `<region>-1`.
 *
 * Each round kills every server in turn. Before each kill: a leader in every
 * region, every scope held at home, every lease on every quorum store, then a
 * random pause within one global renew interval. The server is SIGKILLed and
 * kept down while every role renews past the deadline its last pre-kill
 * write gave it (and at least `downMs`, over a global lease + 1 s), then
 * restarted; the kill is done once every record it hosts was written again.
 * Per kill, from the kill until then:
 *  - leadership changes at any tier: every `elected`, `deposed`,
 *    `scope-held`, `scope-ended` event, a role whose holder or token moved
 *    (by the nodes' events), and a re-written record with another holder or
 *    token than before the kill (by reading the restarted server's stores);
 *  - lapses: a role that ended, or whose next renewal came after the
 *    validity it had (headroom below 0, measured on the shared monotonic
 *    clock from each renewal's event to the latest validity reported before);
 *  - the smallest validity headroom at a renewal, over every role;
 *  - restart → every hosted record written again (polled every 100 ms).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../src/util/nats-connect.js";
import { serverName } from "../src/hierarchy/store-layout.js";
import { waitUntil, type RegentProcess } from "../src/launcher/candidates.js";
import { sleep } from "../src/launcher/nats-launcher.js";
import { monotonicNowMs } from "../src/util/clock.js";
import { loadTopology } from "../src/topology/load.js";
import { startTestHarness, testRegions, type TestHarness } from "../test/harness/harness.js";
import { currentRoles, hostedBy, nodeConnections, RecordReader, roleChanges, until, validity, validityEvent, type Role } from "../test/harness/server-loss.js";
import { round, summarize, type Stats } from "./stats.js";

export interface ServersOptions {
  /** Rounds, each killing every server in turn (default 2; quick: 1 round over two servers of the first region). */
  rounds?: number;
  quick?: boolean;
  /** Least time a killed server stays down (default 5000 ms). */
  downMs?: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface ServerKill {
  round: number;
  server: string;
  /** What it hosted: `region <r>` (its regional store), and on `<r>-1` `global` and `scope <s>` (the region's quorum bucket). */
  hosted: string[];
  /** `regent node` connections to it just before the kill (they reconnect to another server of the region). */
  nodeConnections: number;
  /** Kill → restart begun. */
  downMs: number;
  /** Kill → every role renewed past the deadline its last pre-kill write gave it plus a lease; null if not within 30 s. */
  allRenewedMs: number | null;
  /** Every term that began or ended, every role whose holder or token moved, every record re-written by another holder or term. */
  changes: string[];
  /** Roles whose validity ran out: ended, or renewed only after their validity. */
  lapses: string[];
  /** Smallest validity left at a renewal, over every role, and whose. */
  minHeadroomMs: number;
  minHeadroomRole: string;
  /** Restart begun → the server healthy with its gateways up. */
  restartMs: number;
  /** Restart begun → every record it hosts written again; null if not within 30 s. */
  rewrittenMs: number | null;
}

export interface ServersResult {
  benchmark: "servers";
  settings: { quick: boolean; rounds: number; mode: "full"; regions: string[]; serversPerRegion: number; candidatesPerRegion: number; regionLeaseMs: number; globalLeaseMs: number; globalRenewMs: number; scopeLeaseMs: number; minDownMs: number };
  kills: ServerKill[];
  leadershipChanges: number;
  lapses: number;
  minHeadroomMs: number;
  /** Least headroom over every role in 10 s without a fault before the first kill, and whose. */
  steadyMinHeadroomMs: number;
  steadyMinHeadroomRole: string;
  /** Terms begun or ended, and lapses, in that window (none expected). */
  steadyChanges: string[];
  rewrittenMs: Stats | null;
  /** Split-brain oracle over every recorded term, and guarded acts outside their actor's term: both empty when safe. */
  oracleViolations: string[];
  actsOutsideTerms: string[];
}

/** How long the deployment is watched without a fault first, for the steady-state headroom. */
const STEADY_MS = 10_000;

const roleName = ([p, role]: Role, dep: TestHarness) => (role === "region" ? `region/${dep.regionOf(p)}` : role === "global" ? "global" : `scope/${role}`);

/** Holder and token of every role by the nodes' own events: `role → id#token`. */
function roleHolders(dep: TestHarness): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of currentRoles(dep)) {
    const [p, role] = r;
    const e = p?.events.findLast((x) => validityEvent(x, role));
    out.set(roleName(r, dep), p ? `${p.id}#${e?.token ?? "?"}` : "none");
  }
  return out;
}

/** Smallest validity left at any renewal of `role` after `mark` (latest validity reported before, minus the renewal's time). */
function headroom(p: RegentProcess, role: string, mark: number): number {
  let best = Infinity;
  let v = p.events.slice(0, mark).findLast((x) => validityEvent(x, role))?.validUntil ?? 0;
  for (const e of p.events.slice(mark)) {
    if (!validityEvent(e, role)) continue;
    if (v > 0) best = Math.min(best, v - e.t);
    v = Math.max(v, e.validUntil ?? 0);
  }
  // A role that stopped renewing: what is left now (below 0 once it ran out).
  return Math.min(best, v - monotonicNowMs());
}

/** The least headroom over `roles` since `marks`, and whose. */
function leastHeadroom(dep: TestHarness, roles: Role[], marks: Map<RegentProcess, number>): { ms: number; role: string; lapses: string[] } {
  let ms = Infinity;
  let role = "";
  const lapses: string[] = [];
  for (const r of roles) {
    const h = headroom(r[0], r[1], marks.get(r[0])!);
    if (h < 0) lapses.push(`${roleName(r, dep)} (${r[0].id}) renewed ${(-h).toFixed(0)} ms after its validity`);
    if (h < ms) [ms, role] = [h, `${roleName(r, dep)} (${r[0].id})`];
  }
  return { ms: round(ms, 1), role, lapses };
}

export async function runServersBench(opts: ServersOptions = {}): Promise<ServersResult> {
  const quick = opts.quick ?? false;
  const rounds = opts.rounds ?? (quick ? 1 : 2);
  const minDown = opts.downMs ?? 5_000;
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const regionsDir = testRegions({ candidates: 2 });
  const topo = loadTopology(regionsDir);
  let dep!: TestHarness;
  const regions = topo.regions.map((r) => r.name);
  const allHome = () => regions.every((r) => dep.scopeHolder(r) && dep.regionOf(dep.scopeHolder(r)!) === r);
  const kills: ServerKill[] = [];
  let nc: NatsConnection | undefined;
  const onAbort = () => void dep?.stop();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  let oracleViolations: string[] = [];
  let steadyChanges: string[] = [];
  let steady = { ms: NaN, role: "", lapses: [] as string[] };
  let actsOutside: string[] = [];
  try {
    dep = await startTestHarness(regionsDir, { mode: "full", ...(opts.signal ? { signal: opts.signal } : {}) });
    nc = await connectNats(dep.servers.urls, "bench-servers");
    const reader = new RecordReader(nc);
    const servers = topo.regions.flatMap((r) => Array.from({ length: dep.servers.regions[r.name]!.servers.length }, (_, i) => [r.name, i + 1] as const));
    const order = quick ? servers.slice(0, 2) : servers;
    log(`servers: full supercluster up (${regions.join(", ")}; ${servers.length} nats-servers), ${dep.nodes.length} node processes; ${rounds} round(s) of ${order.length} kills`);
    // The headroom without any fault, to read the per-kill figures against.
    await dep.settled(undefined, 90_000);
    await waitUntil(dep.nodes, allHome, 60_000, "every scope held at home");
    await dep.quorumSettled(60_000);
    const steadyMarks = new Map(dep.nodes.map((p) => [p, p.events.length] as const));
    const steadyRoles = currentRoles(dep);
    await sleep(STEADY_MS, opts.signal);
    steady = leastHeadroom(dep, steadyRoles, steadyMarks);
    steadyChanges = [...roleChanges(dep, steadyMarks), ...steady.lapses];
    log(`servers: steady for ${STEADY_MS} ms: least headroom ${steady.ms.toFixed(0)} ms (${steady.role}); changes and lapses: ${steadyChanges.length ? steadyChanges.join("; ") : "none"}`);
    for (let round_ = 1; round_ <= rounds; round_++) {
      for (const [region, n] of order) {
        const name = serverName(region, n);
        await dep.settled(undefined, 90_000);
        await waitUntil(dep.nodes, allHome, 60_000, "every scope held at home");
        await dep.quorumSettled(60_000);
        await sleep(Math.random() * topo.global.renewMs, opts.signal);
        const hosted = hostedBy(region, n, regions);
        const clients = await nodeConnections(dep, name);
        const before = await Promise.all(hosted.map((h) => until(() => reader.read(h), (v) => v.holder !== null, 10_000, `${h.what} held before the kill`)));
        const roles = currentRoles(dep);
        const holdersBefore = roleHolders(dep);
        const marks = new Map(dep.nodes.map((p) => [p, p.events.length] as const));

        const t0 = performance.now();
        const killedAt = monotonicNowMs();
        await dep.servers.kill(name);
        // Down until every role renewed for a lease without it (a lapse would have shown) and for at least minDown.
        const past = ([p, role, lease]: Role) => validity(p, role) > killedAt + 2 * lease;
        const allRenewedMs: number | null = await waitUntil(dep.nodes, () => roles.every(past), 30_000, `every role renewed for a lease without ${name}`).then(
          () => round(performance.now() - t0, 1),
          () => null,
        );
        await sleep(Math.max(0, minDown - (performance.now() - t0)), opts.signal);
        const downMs = round(performance.now() - t0, 1);

        const t1 = performance.now();
        let restartMs = 0;
        const restarted = dep.servers.restart(name, { timeoutMs: 30_000 }).then(() => (restartMs = round(performance.now() - t1, 1)));
        const again = await Promise.all(
          hosted.map((h, i) =>
            until(() => reader.read(h), (v) => v.revision > before[i]!.revision && v.holder !== null, 30_000, `${h.what} written again`).then(
              (v) => ({ v, ms: performance.now() - t1 }),
              () => null,
            ),
          ),
        );
        await restarted;
        const rewrittenMs = again.every((x) => x !== null) ? round(Math.max(...again.map((x) => x!.ms)), 1) : null;

        const changes = roleChanges(dep, marks);
        const holdersAfter = roleHolders(dep);
        for (const [role, was] of holdersBefore) if (holdersAfter.get(role) !== was) changes.push(`${role}: ${was} → ${holdersAfter.get(role)}`);
        hosted.forEach((h, i) => {
          const a = again[i];
          const b = before[i]!;
          if (a === null) changes.push(`${h.what}: not written again within 30 s`);
          else if (a!.v.holder !== b.holder || a!.v.token !== b.token) changes.push(`${h.what}: ${b.holder}#${b.token} → ${a!.v.holder}#${a!.v.token}`);
        });
        const lapses = dep.nodes.flatMap((p) =>
          p.events
            .slice(marks.get(p))
            .filter((e) => e.type === "deposed" || e.type === "scope-ended")
            .map((e) => `${p.id} ${e.type} ${String(e.tier ?? e.scope)} ${e.reason ?? ""}`),
        );
        const least = leastHeadroom(dep, roles, marks);
        lapses.push(...least.lapses);
        const [minHeadroomMs, minHeadroomRole] = [least.ms, least.role];
        const k: ServerKill = {
          round: round_,
          server: name,
          hosted: [`region ${region}`, ...(n === 1 ? ["global", ...regions.map((s) => `scope ${s}`)] : [])],
          nodeConnections: clients,
          downMs,
          allRenewedMs,
          changes,
          lapses,
          minHeadroomMs,
          minHeadroomRole,
          restartMs,
          rewrittenMs,
        };
        kills.push(k);
        log(
          `servers ${round_}/${rounds} ${name} (${k.hosted.join(", ")}; ${clients} node connections): down ${downMs.toFixed(0)} ms (all renewed on at ${allRenewedMs?.toFixed(0) ?? "never"} ms), ` +
            `restart ${restartMs.toFixed(0)} ms, re-written ${rewrittenMs?.toFixed(0) ?? "never"} ms; min headroom ${minHeadroomMs.toFixed(0)} ms (${minHeadroomRole}); ` +
            `changes: ${changes.length ? changes.join("; ") : "none"}; lapses: ${lapses.length ? lapses.join("; ") : "none"}`,
        );
      }
    }
    oracleViolations = dep.oracle().violations.map((v) => v.message);
    actsOutside = dep.actsOutsideTerms();
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    await nc?.close().catch(() => undefined);
    await dep?.stop();
  }
  const rewritten = kills.flatMap((k) => (k.rewrittenMs === null ? [] : [k.rewrittenMs]));
  return {
    benchmark: "servers",
    settings: {
      quick,
      rounds,
      mode: "full",
      regions,
      serversPerRegion: topo.regions[0]!.servers,
      candidatesPerRegion: 2,
      regionLeaseMs: topo.regions[0]!.leaseMs,
      globalLeaseMs: topo.global.leaseMs,
      globalRenewMs: topo.global.renewMs,
      scopeLeaseMs: topo.scopes.leaseMs,
      minDownMs: minDown,
    },
    kills,
    leadershipChanges: kills.reduce((s, k) => s + k.changes.length, 0),
    lapses: kills.reduce((s, k) => s + k.lapses.length, 0),
    minHeadroomMs: round(Math.min(...kills.map((k) => k.minHeadroomMs)), 1),
    steadyMinHeadroomMs: steady.ms,
    steadyMinHeadroomRole: steady.role,
    steadyChanges,
    rewrittenMs: rewritten.length ? summarize(rewritten, 1) : null,
    oracleViolations,
    actsOutsideTerms: actsOutside,
  };
}
