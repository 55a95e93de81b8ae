/**
 * Renders the suite's JSON results as the generated section of
 * BENCHMARKS.md, between `<!-- bench:begin -->` and `<!-- bench:end -->`.
 * Everything outside the markers is hand-written and left alone.
 */
import type { CompareResult, Ratios, SystemFailover, SystemHandover } from "./compare.js";
import type { MachineInfo } from "./election.js";
import type { IdleResult } from "./idle.js";
import type { RegionsResult } from "./regions.js";
import type { ScaleResult } from "./scale.js";
import type { ServersResult } from "./servers.js";
import type { Stats } from "./stats.js";
import type { StreamLeaderResult } from "./stream-leader.js";

export const BEGIN = "<!-- bench:begin -->";
export const END = "<!-- bench:end -->";

/** What the runner wraps around every benchmark's own result. */
export interface Envelope<T> {
  date: string;
  durationS: number;
  command: string;
  machine: SuiteMachine;
  result: T;
}
/** `git`: the commit of the sources measured (`+dirty`: src/ or bin/ had uncommitted changes); absent in older results. */
export type SuiteMachine = MachineInfo & { etcd: string | null; etcd3Client: string; git?: string | null };

export interface SuiteResults {
  compare?: Envelope<CompareResult>;
  regions?: Envelope<RegionsResult>;
  servers?: Envelope<ServersResult>;
  "stream-leader"?: Envelope<StreamLeaderResult>;
  scale?: Envelope<ScaleResult>;
  idle?: Envelope<IdleResult>;
}

const f0 = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? "–" : x.toFixed(0));
const f1 = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? "–" : x.toFixed(1));
const f2 = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? "–" : x.toFixed(2));
const f3 = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? "–" : x.toFixed(3));
const ratio = (r: Ratios | null) => (r ? `${f2(r.median)} / ${f2(r.p99)} / ${f2(r.max)}` : "–");
const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
const sep = (n: number) => row(Array.from({ length: n }, () => "---"));
const day = (iso: string) => iso.slice(0, 10);
const rerun = (name: string) => `\`npm run bench -- --only ${name}\``;

function machineSection(r: SuiteResults): string[] {
  const envs = Object.values(r).filter(Boolean) as Envelope<unknown>[];
  if (envs.length === 0) return ["No results yet: run `npm run bench`."];
  const m = envs[0]!.machine;
  const etcd = envs.map((e) => e.machine.etcd).find((x) => x) ?? "not installed";
  const lines = [
    row(["CPU", "cores", "RAM", "OS", "node", "nats-server", "etcd", "npm etcd3"]),
    sep(8),
    row([m.cpuModel, m.cores, `${m.totalMemGiB} GiB`, `${m.platform} ${m.arch}`, m.node, m.natsServer, etcd, m.etcd3Client]),
    "",
    "Runs:",
    "",
    row(["benchmark", "date", "took", "load average at start (1/5/15 min)", "sources", "command"]),
    sep(6),
  ];
  for (const [name, e] of Object.entries(r) as [string, Envelope<unknown>][]) {
    if (e) lines.push(row([name, day(e.date), `${f0(e.durationS)} s`, e.machine.loadavg.join(" / "), e.machine.git ?? "–", `\`${e.command}\``]));
  }
  return lines;
}

function statCells(s: Stats, fmt = f1): string[] {
  return [String(s.n), fmt(s.median), fmt(s.p99), fmt(s.max)];
}

function compareSection(e: Envelope<CompareResult> | undefined): string[] {
  if (!e) return ["Not run yet: " + rerun("compare") + "."];
  const c = e.result;
  const out: string[] = [];
  if (c.etcdSkipped) out.push(`**etcd was not measured** (${c.etcdSkipped}); regent figures only.`, "");
  out.push(
    `${c.settings.candidates} candidate processes per system; regent = \`regent elect\` on one nats-server (R1 bucket), etcd = npm \`etcd3\` ` +
      `\`election(name, ttl).campaign(id)\` (bench/etcd-candidate.ts) on one etcd ${c.versions.etcd ?? "–"} member; rounds interleaved regent/etcd. ` +
      `p99 is nearest-rank: with fewer than 100 samples it is the maximum. Ratio = regent ÷ etcd (below 1: regent faster).`,
    "",
    `**Graceful handover** (leader resigns → successor \`elected\`; from the resigner's \`deposed\` line, and from the \`resign\` command${
      c.settings.handoverWarmup ? `; after ${c.settings.handoverWarmup} unrecorded warm-up handovers per pool, so each fresh process has run its takeover path once` : ""
    }):`,
    "",
    row(["lease/TTL", "system", "n", "median ms", "p99 ms", "max ms", "from `resign` median / p99 ms", "ratio median / p99 / max"]),
    sep(8),
  );
  for (const h of c.handover) {
    const line = (name: string, s: SystemHandover, r: Ratios | null) =>
      row([`${h.leaseMs / 1000} s`, name, ...statCells(s.deposedToElectedMs), `${f1(s.resignToElectedMs.median)} / ${f1(s.resignToElectedMs.p99)}`, r ? ratio(r) : ""]);
    out.push(line("regent", h.regent, h.ratio));
    if (h.etcd) out.push(line("etcd", h.etcd, null));
  }
  out.push(...hopTable(c));
  out.push(
    "",
    "**Crash failover** (steady leader SIGKILLed at a random point of its renew interval → successor `elected`):",
    "",
    row(["lease/TTL", "system", "n", "median ms", "p99 ms", "max ms", "failover/lease median (min–max)", "ratio median / p99 / max"]),
    sep(8),
  );
  for (const f of c.failover) {
    const line = (name: string, s: SystemFailover, r: Ratios | null) =>
      row([`${f.leaseMs / 1000} s`, name, ...statCells(s.failoverMs, f0), `${f3(s.ratio.median)} (${f3(s.ratio.min)}–${f3(s.ratio.max)})`, r ? ratio(r) : ""]);
    out.push(line("regent", f.regent, f.ratio));
    if (f.etcd) out.push(line("etcd", f.etcd, null));
  }
  out.push(...failoverParts(c));
  out.push("", `Reproduce: ${rerun("compare")}.`, "", ...compareVerdicts(c));
  return out;
}

const HOP_LABELS: Record<string, string> = {
  stdin: "`resign` written → read by the leader (stdin pipe; bench only)",
  deposed: "→ `deposed` emitted (machine transition)",
  releaseSend: "→ release write sent",
  watchDelivery: "→ release delivered to the successor's watch (R1: a stream-config read, then the write; the server stores, pushes)",
  casSend: "→ successor's CAS sent (machine transition)",
  casAck: "→ CAS acknowledged (R1: a stream-config read, then the write: two round trips)",
  electedEmit: "→ `elected` printed",
  releaseAck: "(beside the chain: the resigner's release round trip)",
};

/** Per-hop medians and p99 of regent's handover, from `regent elect --trace-handover` hop lines. */
function hopTable(c: CompareResult): string[] {
  const traced = c.handover.filter((h) => h.regent.hops);
  if (!traced.length) return [];
  const out = [
    "",
    "regent's handover hop by hop (`regent elect --trace-handover`: stamps on the shared monotonic clock, printed 20 ms later, off the path), median / p99 ms:",
    "",
    row(["hop", ...traced.map((h) => `${h.leaseMs / 1000} s`)]),
    sep(1 + traced.length),
  ];
  for (const [k, label] of Object.entries(HOP_LABELS)) {
    out.push(row([label, ...traced.map((h) => (h.regent.hops![k] ? `${f2(h.regent.hops![k]!.median)} / ${f2(h.regent.hops![k]!.p99)}` : "–"))]));
  }
  return out;
}

/**
 * Where a crash failover's time goes (docs/safety.md, "Crash failover time"):
 * failover = (observation of the last record − kill) + (wait: a full lease +
 * timer lateness) + (CAS → elected). Only the first part is negative, so
 * failover/lease exceeds 1 whenever a kill lands within the other two parts
 * of a renewal's delivery.
 */
function failoverParts(c: CompareResult): string[] {
  const traced = c.failover.filter((f) => f.regent.parts);
  if (!traced.length) return [];
  const out = [
    "",
    "regent's crash failover in parts (docs/safety.md, \"Crash failover time\"): failover = (successor observed the last record − kill) + lease + (wait − lease: timer lateness) + (takeover CAS → `elected`); min / median / max ms:",
    "",
    row(["lease", "observed − kill", "wait − lease", "CAS → elected", "failover/lease max", "bound: 1 + (max observed − kill, if > 0, + max lateness + max CAS) / lease"]),
    sep(6),
  ];
  for (const f of traced) {
    const p = f.regent.parts!;
    const mmm = (s: Stats, d = f1) => `${d(s.min)} / ${d(s.median)} / ${d(s.max)}`;
    const bound = 1 + (Math.max(0, p.observedAfterKillMs.max) + p.waitOverLeaseMs.max + p.casMs.max) / f.leaseMs;
    out.push(row([`${f.leaseMs / 1000} s`, mmm(p.observedAfterKillMs, f0), mmm(p.waitOverLeaseMs, f2), mmm(p.casMs), f3(f.regent.ratio.max), f3(bound)]));
  }
  return out;
}

function compareVerdicts(c: CompareResult): string[] {
  const v: string[] = [];
  for (const h of c.handover) {
    if (!h.etcd || !h.ratio) continue;
    const who = h.ratio.median < 1 ? "regent" : "etcd";
    v.push(
      `- Handover at ${h.leaseMs / 1000} s: median ${who} faster (${f1(h.regent.deposedToElectedMs.median)} vs ${f1(h.etcd.deposedToElectedMs.median)} ms); ` +
        `tail ${h.ratio.p99 < 1 ? "regent" : "etcd"} better (p99 ${f1(h.regent.deposedToElectedMs.p99)} vs ${f1(h.etcd.deposedToElectedMs.p99)} ms).`,
    );
  }
  for (const f of c.failover) {
    if (!f.etcd || !f.ratio) continue;
    const who = f.ratio.median < 1 ? "regent" : "etcd";
    v.push(
      `- Crash failover at ${f.leaseMs / 1000} s: median ${who} faster (${f0(f.regent.failoverMs.median)} vs ${f0(f.etcd.failoverMs.median)} ms, ` +
        `${f3(f.regent.ratio.median)} vs ${f3(f.etcd.ratio.median)} of the lease); worst case ${f.ratio.max < 1 ? "regent" : "etcd"} (max ${f0(f.regent.failoverMs.max)} vs ${f0(f.etcd.failoverMs.max)} ms).`,
    );
  }
  return v.length ? ["Verdicts (computed from the figures above):", "", ...v] : [];
}

function regionsSection(e: Envelope<RegionsResult> | undefined): string[] {
  if (!e) return ["Not run yet: " + rerun("regions") + "."];
  const r = e.result;
  const s = r.settings;
  // Issue 11 targets, from the settings of the run.
  const globalBound = s.globalLeaseMs + 500;
  const scopeBound = s.globalLeaseMs + s.scopeLeaseMs + 1000;
  const within = (x: number | null, bound: number) => (x === null ? "–" : x <= bound ? "yes" : "**no**");
  const g = r.toGlobalElectedMs;
  return [
    `Light supercluster (${s.regions.join(", ")}: one nats-server each; global and scope leases are quorum leases over one R1 bucket per region), ${s.candidatesPerRegion} \`regent node\` processes per region; ` +
      `region lease ${s.regionLeaseMs} ms, global lease ${s.globalLeaseMs} ms (renew ${s.globalRenewMs} ms), scope lease ${s.scopeLeaseMs} ms. ` +
      `Odd runs SIGKILL the global leader's region, even runs another region in turn (its nodes and its server), at a random point of the global renew interval; the region is restarted and its scope fails back before the next run. ` +
      `"Lapses elsewhere" counts every role of a surviving node that ended (\`deposed\` or \`scope-ended\`) from the kill until two scope leases after the lost scope moved. ` +
      `Targets (issue 11): new global leader ≤ ${globalBound} ms, scope held elsewhere ≤ ${scopeBound} ms, 0 lapses elsewhere.`,
    "",
    row(["run", "lost region", "held global", "→ new global leader ms", `≤ ${globalBound}`, "→ scope held elsewhere ms", `≤ ${scopeBound}`, "lapses elsewhere"]),
    sep(8),
    ...r.runs.map((x) =>
      row([x.run, x.lostRegion, x.lostGlobal ? "yes" : "no", f0(x.toGlobalElectedMs), within(x.toGlobalElectedMs, globalBound), f0(x.toScopeHeldMs), within(x.toScopeHeldMs, scopeBound), x.lapsesElsewhere.length ? x.lapsesElsewhere.join(", ") : "0"]),
    ),
    "",
    row(["figure", "n", "median ms", "max ms"]),
    sep(4),
    row(["region loss → new global leader (`elected` global)", g?.n ?? 0, f0(g?.median), f0(g?.max)]),
    row(["region loss → its scope held in another region (`scope-held`)", r.toScopeHeldMs.n, f0(r.toScopeHeldMs.median), f0(r.toScopeHeldMs.max)]),
    "",
    `Lapses of surviving nodes' roles over all runs: ${r.lapsesElsewhere ?? "not measured"}.`,
    "",
    `Reproduce: ${rerun("regions")}.`,
  ];
}

function serversSection(e: Envelope<ServersResult> | undefined): string[] {
  if (!e) return ["Not run yet: " + rerun("servers") + "."];
  const r = e.result;
  const s = r.settings;
  const list = (xs: string[]) => (xs.length ? `**${xs.length}**: ${xs.join("; ")}` : "0");
  const rw = r.rewrittenMs;
  return [
    `Full supercluster (${s.regions.join(", ")}: ${s.serversPerRegion} nats-servers each; the regional lease is a quorum lease over one R1 bucket per server of the region, ` +
      `the global and scope leases one over each region's quorum bucket on \`<region>-1\`), ${s.candidatesPerRegion} \`regent node --mode full\` per region; ` +
      `region lease ${s.regionLeaseMs} ms, global lease ${s.globalLeaseMs} ms (renew ${s.globalRenewMs} ms), scope lease ${s.scopeLeaseMs} ms. ` +
      `${s.rounds} round(s), each SIGKILLing every server in turn at a random point of the global renew interval, after steady state (every scope at home, every lease on every quorum store). ` +
      `A killed server stays down until every role renewed a lease past the deadline its last pre-kill write gave it, and at least ${s.minDownMs} ms; then it is restarted, and the kill ends once every record it hosts is written again. ` +
      `Changes: every term begun or ended at any tier, every role whose holder or token moved, every re-written record with another holder or token. ` +
      `Lapses: a role that ended, or renewed only after its validity. Headroom: the least validity a role had left when a renewal of it succeeded. Target (issue 11): 0 changes and 0 lapses.`,
    "",
    row(["round", "server", "hosts", "node conns", "down ms", "kill → every role renewed a lease on, ms", "min headroom ms (role)", "restart ms", "restart → re-written ms", "changes", "lapses"]),
    sep(11),
    ...r.kills.map((k) =>
      row([k.round, k.server, k.hosted.join(", "), k.nodeConnections, f0(k.downMs), f0(k.allRenewedMs), `${f0(k.minHeadroomMs)} (${k.minHeadroomRole})`, f0(k.restartMs), f0(k.rewrittenMs), list(k.changes), list(k.lapses)]),
    ),
    "",
    `Summary: **${r.leadershipChanges}** leadership changes and **${r.lapses}** lapses in ${r.kills.length} kills (target 0 and 0); least validity headroom ${f0(r.minHeadroomMs)} ms (without a fault, over 10 s before the first kill: ${f0(r.steadyMinHeadroomMs)} ms, ${r.steadyMinHeadroomRole}${r.steadyChanges.length ? `; **changes or lapses without a fault**: ${r.steadyChanges.join("; ")}` : ""}); ` +
      `restart → records re-written median ${f0(rw?.median)} ms, max ${f0(rw?.max)} ms; split-brain oracle: ${r.oracleViolations.length ? r.oracleViolations.join("; ") : "clean"}; ` +
      `guarded acts outside their term: ${r.actsOutsideTerms.length ? r.actsOutsideTerms.join("; ") : "none"}.`,
    "",
    `Reproduce: ${rerun("servers")}.`,
  ];
}

function streamSection(e: Envelope<StreamLeaderResult> | undefined): string[] {
  if (!e) return ["Not run yet: " + rerun("stream-leader") + "."];
  const first = e.result.configs[0]!.settings;
  const out = [
    `3-server JetStream cluster, R3 bucket, ${first.candidates} \`regent elect\` candidates, lease ${first.leaseMs} ms, a fresh cluster per renew interval. ` +
      `Each kill SIGKILLs the server leading the bucket's stream at a random point of the renew interval; observed until the holder renewed three times after the new stream leader. ` +
      `The renewal gap runs from the holder's last successful renewal before the kill (its validity counts from that renewal's send, a little earlier).`,
    "",
    row(["renew ms", "validity ms", "kill", "stream leader → new", "new stream leader after ms", "leadership changes", "longest renewal gap ms", "failed renewal attempts"]),
    sep(8),
  ];
  for (const c of e.result.configs) {
    const s = c.settings;
    for (const k of c.kills) out.push(row([s.renewMs, f0(s.validForMs), k.kill, `${k.streamLeader} → ${k.newStreamLeader}`, f0(k.streamLeaderElectionMs), k.leadershipChanges, f0(k.longestRenewalGapMs), k.failedRenewals]));
  }
  out.push("");
  for (const c of e.result.configs) {
    const s = c.settings;
    out.push(
      `- renew ${s.renewMs} ms: **${c.leadershipChanges}** leadership changes in ${c.kills.length} kills (target 0); longest renewal gap median ${f0(c.longestRenewalGapMs.median)} ms, ` +
        `max ${f0(c.longestRenewalGapMs.max)} ms, against a validity of ${f0(s.validForMs)} ms (headroom ${f0(s.validForMs - c.longestRenewalGapMs.max)} ms).`,
    );
  }
  out.push("", `Reproduce: ${rerun("stream-leader")}.`);
  return out;
}

function scaleSection(e: Envelope<ScaleResult> | undefined): string[] {
  if (!e) return ["Not run yet: " + rerun("scale") + "."];
  const r = e.result;
  const s = r.settings;
  const out = [
    `N elections in one process (bench/scale-worker.ts), one candidate each (the process holds and renews all N leases), each its own key; ` +
      `one nats-server, R1 buckets; lease ${s.leaseMs} ms (renew every ${f0(s.leaseMs / 3)} ms). Measured over ${s.windowMs / 1000} s after every election leads ` +
      `(or after ${s.startTimeoutMs / 1000} s, whichever first) and a ${s.warmupMs / 1000} s warm-up. Renew latency = the wrapped store's \`update\`, call to success. ` +
      `Goal: ${s.goal}.`,
    "",
    row(["N", "layout (buckets)", "leaders at end", "start-up s", "renew p50 ms", "renew p99 ms", "renewals ok / failed", "regent CPU (cores)", "regent RSS MiB", "nats CPU (cores)", "nats RSS MiB", "KV ops/s", "NATS msgs in/s", "event-loop delay p99 ms", "regent CPU per 1k elections", "goal"]),
    sep(16),
  ];
  for (const c of r.cases) {
    out.push(
      row([
        c.n.toLocaleString("en-US"),
        `${c.layout} (${c.buckets})`,
        `${c.leadersAtEnd}/${c.n}`,
        c.startupMs === null ? `> ${s.startTimeoutMs / 1000}` : f1(c.startupMs / 1000),
        f1(c.renewLatencyMs?.median),
        f1(c.renewLatencyMs?.p99),
        `${c.renewals.ok} / ${c.renewals.failed}`,
        f3(c.regent.cpuCores),
        f0(c.regent.rssMiB),
        f3(c.nats?.cpuCores),
        f0(c.nats?.rssMiB),
        f0(c.opsPerSec.total),
        f0(c.natsInMsgsPerSec),
        f0(c.eventLoopDelayMs.p99),
        c.leadersAtEnd === c.n ? f3(c.cpuPer1kElections) : "–",
        c.meetsGoal ? "met" : "**missed**",
      ]),
    );
  }
  out.push(
    "",
    "Start-up \"> N\" means not every election led within the start timeout; the window was measured anyway.",
    "",
    `Reproduce: ${rerun("scale")} (add \`--cpu-prof DIR\` for a V8 CPU profile and a sampling heap profile of each worker's measurement window).`,
  );
  return out;
}

function idleSection(e: Envelope<IdleResult> | undefined): string[] {
  if (!e) return ["Not run yet: " + rerun("idle") + "."];
  const r = e.result;
  const how = r.compiled === undefined ? "node + tsx" : r.compiled ? "compiled dist/" : "node + tsx: dist/ was stale";
  const out = [
    `One \`regent elect\` process holding one lease (${r.settings.leaseMs / 1000} s, renew ${r.settings.renewMs} ms) on a local nats-server, idle for ${f0(r.settings.windowMs / 1000)} s` +
      (r.node ? `; then the ${r.node.processes} \`regent node\` processes of the light supercluster (shipped regions/), settled, over the same window` : "") +
      `. Target (issue 16): ≤ 50 MB RSS per process, no child process.`,
    "",
    row(["process", "CPU ms per s", "CPU (cores)", "RSS MiB", "notes"]),
    sep(5),
    row([`regent elect (${how})`, f2(r.regent.cpuMsPerSec), r.regent.cpuCores.toFixed(4), `${f1(r.regent.rssMiBEnd)} (max ${f1(r.regent.rssMiBMax)})`, `${r.renewalsInWindow} renewals in the window; ${r.regent.childProcesses} child process(es)`]),
  ];
  if (r.node) {
    const n = r.node;
    out.push(row([`regent node ×${n.processes} (${how})`, `${f2(n.cpuMsPerSec.median)} (max ${f2(n.cpuMsPerSec.max)})`, "", `median ${f1(n.rssMiBEnd.median)}, max ${f1(n.rssMiBMax)}`, `${n.childProcesses} child process(es)`]));
  }
  if (r.bareNodeRssMiB !== undefined) out.push(row(["bare `node` (a timer, nothing imported)", "", "", f1(r.bareNodeRssMiB), "Node's own floor"]));
  out.push(row(["nats-server", f2(r.nats.cpuCores * 1000), r.nats.cpuCores.toFixed(4), f1(r.nats.rssMiBEnd), "one R1 bucket"]), "", `Reproduce: ${rerun("idle")}.`);
  return out;
}

/** The generated section, markers included. */
export function renderSection(r: SuiteResults): string {
  return [
    BEGIN,
    "<!-- Generated by bench/run.ts from bench/results/*.json; edits between the markers are overwritten. -->",
    "",
    "### Machine and versions",
    "",
    ...machineSection(r),
    "",
    "### regent and etcd: handover and crash failover",
    "",
    ...compareSection(r.compare),
    "",
    "### Region loss",
    "",
    ...regionsSection(r.regions),
    "",
    "### Single nats-server loss (full mode)",
    "",
    ...serversSection(r.servers),
    "",
    "### NATS stream-leader loss",
    "",
    ...streamSection(r["stream-leader"]),
    "",
    "### Scale: many elections in one process",
    "",
    ...scaleSection(r.scale),
    "",
    "### Idle cost",
    "",
    ...idleSection(r.idle),
    END,
  ].join("\n");
}

/** Replaces the generated section of `doc` (or appends it when the markers are missing). */
export function spliceSection(doc: string, section: string): string {
  const b = doc.indexOf(BEGIN);
  const e = doc.indexOf(END);
  if (b >= 0 && e > b) return doc.slice(0, b) + section + doc.slice(e + END.length);
  return (doc.trimEnd() ? doc.trimEnd() + "\n\n" : "") + section + "\n";
}
