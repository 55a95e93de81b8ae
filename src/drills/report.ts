/**
 * Writes a drill's report directory: report.json (everything), report.md
 * (for people: verdict, recovery, oracle, fenced writes, timeline) and
 * timeline.svg.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { timelineSvg } from "./svg.js";
import type { DrillReport } from "./types.js";

const s = (ms: number | null | undefined) => (ms === null || ms === undefined ? "—" : `${(ms / 1000).toFixed(2)} s`);

export function reportMarkdown(r: DrillReport): string {
  const t0 = r.faultAt ?? (r.intervals.length ? Math.min(...r.intervals.map((i) => i.start)) : 0);
  const o = r.outcome;
  const f = r.fenced;
  const lines: string[] = [];
  lines.push(`# regent drill ${r.scenario}`, "");
  if (r.skipped) {
    lines.push(`**Skipped:** ${r.skipped}`, "");
    return lines.join("\n") + "\n";
  }
  lines.push(`**${r.passed ? "PASSED" : "FAILED"}** · ${r.startedAt} · ${(r.durationMs / 1000).toFixed(0)} s · ${r.fabric} fabric · ${r.host.cpus} CPUs · node ${r.host.node} · ${r.host.natsServer}`, "");
  if (r.error) lines.push("## Error", "", "```", r.error.slice(0, 3000), "```", "");
  lines.push("## Recovery", "");
  lines.push(`- ${o.recoveryWhat || "(no measurement)"}: **${s(o.recoveryMs)}** (bound ${s(o.boundMs)})`);
  for (const [k, v] of Object.entries(o.metrics)) lines.push(`- ${k}: ${typeof v === "number" && /Ms$/.test(k) ? s(v) : String(v)}`);
  for (const n of o.notes) lines.push(`- note: ${n}`);
  if (o.failures.length) {
    lines.push("", "Scenario checks that failed:", "");
    for (const x of o.failures) lines.push(`- ${x}`);
  }
  lines.push("", "## Oracle", "");
  lines.push(`- verdict: **${r.oracle.ok ? "ok" : "VIOLATED"}** over ${r.oracle.intervals} leadership intervals`);
  lines.push(`- guarded acts checked: ${r.oracle.acts}; outside their actor's term: **${r.oracle.actsOutsideTerms.length}**`);
  for (const v of r.oracle.violations) lines.push(`  - violation: ${v}`);
  for (const v of r.oracle.actsOutsideTerms) lines.push(`  - ${v}`);
  if (r.oracle.expectedViolations.length) {
    lines.push(`- expected violations (the scenario breaks the drift bound on purpose; reported, not failed): ${r.oracle.expectedViolations.length}`);
    for (const v of r.oracle.expectedViolations) lines.push(`  - ${v}`);
  }
  lines.push("", "## Fenced writes (`regent-demo-writes`)", "");
  lines.push("| offered | accepted | rejected (stale token) | store unavailable | claims | accepted from a deposed holder | same, on deliberately unsafe leases |");
  lines.push("|---:|---:|---:|---:|---:|---:|---:|");
  lines.push(`| ${f.offered} | ${f.accepted} | ${f.rejectedStale} | ${f.unavailable} | ${f.claims} | **${f.acceptedFromDeposed}** | ${f.acceptedFromDeposedUnsafe} |`);
  lines.push("", "| scope | accepted | rejected | highest token |", "|---|---:|---:|---:|");
  for (const [k, v] of Object.entries(f.perScope).sort()) lines.push(`| ${k} | ${v.accepted} | ${v.rejectedStale} | ${v.highest} |`);
  for (const e of f.examples) lines.push(`- ${e}`);
  lines.push("", "## Timeline", "", "![timeline](timeline.svg)", "", "| t (s, from the fault) | event |", "|---:|---|");
  const events = [
    ...r.marks.map((m) => ({ t: m.t, text: `**${m.kind}**: ${m.label}` })),
    ...r.intervals.map((i) => ({ t: i.start, text: `${i.holder} starts ${i.lease} (token ${i.token}), until ${((i.end - t0) / 1000).toFixed(3)}` })),
  ].sort((a, b) => a.t - b.t);
  const faultIdx = events.findIndex((e) => e.t >= t0);
  // Keep the table readable: the last few steady-state starts before the fault, everything after it.
  for (const e of events.slice(Math.max(0, faultIdx - 8))) lines.push(`| ${((e.t - t0) / 1000).toFixed(3)} | ${e.text} |`);
  lines.push("", "## Participants", "");
  for (const p of r.participants) lines.push(`- ${p.id} (${p.region})${p.wrapper.length ? ` under \`${p.wrapper.join(" ")}\`` : ""}`);
  return lines.join("\n") + "\n";
}

export function writeReport(r: DrillReport): void {
  mkdirSync(r.dir, { recursive: true });
  writeFileSync(join(r.dir, "report.json"), JSON.stringify(r, null, 2) + "\n");
  writeFileSync(join(r.dir, "report.md"), reportMarkdown(r));
  if (!r.skipped) writeFileSync(join(r.dir, "timeline.svg"), timelineSvg(r));
}
