/**
 * The alert rules and the Grafana dashboard against what a node exposes:
 * `promtool check rules` and `promtool test rules` (Debian's prometheus
 * package) on deploy/prometheus/, every metric an alert or a panel queries is
 * in docs/metrics.md, every panel's PromQL parses (checked by promtool as
 * recording rules), and the Grafana provisioning points at the dashboard.
 *
 * Without promtool the promtool checks are skipped locally and FAIL in CI
 * (`CI` set), whose .ci/run installs it.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { composeFromTopology } from "../../src/topology/compose.js";
import { loadTopology } from "../../src/topology/load.js";
import { documentedNames } from "./metrics-doc.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PROM = join(ROOT, "deploy", "prometheus");
const GRAFANA = join(ROOT, "deploy", "grafana");
const PROMTOOL = spawnSync("promtool", ["--version"], { timeout: 10_000 }).status === 0;

const temps: string[] = [];
afterAll(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

function needPromtool(ctx: { skip: () => void }): void {
  if (PROMTOOL) return;
  if (process.env.CI) throw new Error("promtool is not installed; .ci/run must install it (apt-get install prometheus)");
  ctx.skip();
}

/** `promtool <args>`: its combined output and whether it succeeded. */
async function promtool(args: string[], cwd = ROOT): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await run("promtool", args, { cwd, timeout: 60_000 });
    return { ok: true, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

/** Metric names a PromQL expression selects (identifiers not followed by `(`, minus keywords and label names). */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, "") // matchers
    .replace(/\[[^\]]*\]/g, "") // ranges
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ""); // grouping labels
  const keywords = new Set(["and", "or", "unless", "by", "without", "on", "ignoring", "bool", "offset"]);
  return [...stripped.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)].map((m) => m[1]!).filter((n) => !keywords.has(n) && !/^\d/.test(n));
}

const BUILTIN = new Set(["up"]); // Prometheus' own per-target series

interface Panel {
  type: string;
  title: string;
  datasource?: { uid?: string };
  targets?: { expr: string; datasource?: { uid?: string } }[];
}
const dashboard = JSON.parse(readFileSync(join(GRAFANA, "dashboards", "regent.json"), "utf8")) as { uid: string; title: string; panels: Panel[] };
const queries = dashboard.panels.filter((p) => p.type !== "row").flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
const alertExprs = [...readFileSync(join(PROM, "alerts.yml"), "utf8").matchAll(/^ {8}expr: (?:\|\n((?: {10}.*\n)+)|(.*)\n)/gm)].map((m) => (m[1] ?? m[2]!).trim());

describe("alert rules", () => {
  it("promtool check rules accepts deploy/prometheus/alerts.yml", async (ctx) => {
    needPromtool(ctx);
    const r = await promtool(["check", "rules", join(PROM, "alerts.yml")]);
    expect(r.out).toMatch(/SUCCESS: 6 rules found/);
    expect(r.ok, r.out).toBe(true);
  });

  it("promtool test rules: each alert fires when it should and stays quiet otherwise (alerts.test.yml)", async (ctx) => {
    needPromtool(ctx);
    const r = await promtool(["test", "rules", "alerts.test.yml"], PROM);
    expect(r.ok, r.out).toBe(true);
    expect(r.out).toMatch(/SUCCESS/);
  });

  it("every alert queries only documented series", () => {
    expect(alertExprs).toHaveLength(6);
    const known = documentedNames();
    for (const expr of alertExprs) for (const n of metricNames(expr)) expect(known.has(n) || BUILTIN.has(n), `${n} in ${expr}`).toBe(true);
  });
});

describe("Grafana dashboard", () => {
  it("has the panels the demo needs, each on the provisioned Prometheus datasource", () => {
    expect(dashboard.uid).toBe("regent");
    const titles = dashboard.panels.map((p) => p.title);
    for (const t of ["Leaders per tier", "Lease holders", "Token changes (terms begun)", "Lease remaining", "Store latency", "Scope holders", "Scope moves", "Event-loop stalls"]) expect(titles).toContain(t);
    const uid = /^\s+uid: (\S+)$/m.exec(readFileSync(join(GRAFANA, "provisioning", "datasources", "prometheus.yml"), "utf8"))?.[1];
    expect(uid).toBe("prometheus");
    for (const p of dashboard.panels.filter((x) => x.type !== "row")) {
      expect(p.datasource?.uid, p.title).toBe(uid);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) expect(t.datasource?.uid, p.title).toBe(uid);
    }
  });

  it("every panel queries only documented series", () => {
    const known = documentedNames();
    const used = new Set<string>();
    for (const q of queries) {
      for (const n of metricNames(q.expr)) {
        used.add(n);
        expect(known.has(n) || BUILTIN.has(n), `${n} in panel "${q.panel}": ${q.expr}`).toBe(true);
      }
    }
    // The list: leaders, tokens, lease remaining, store latency, scope holders and moves, stalls.
    for (const n of ["regent_leader", "regent_fencing_token", "regent_transitions_total", "regent_lease_remaining_seconds", "regent_store_op_seconds_bucket", "regent_scope_moves_total", "regent_event_loop_stalls_total"]) {
      expect(used, n).toContain(n);
    }
  });

  it("every panel's PromQL parses (promtool checks them as recording rules)", async (ctx) => {
    needPromtool(ctx);
    const dir = mkdtempSync(join(tmpdir(), "regent-dash-"));
    temps.push(dir);
    // Grafana's interval variables become plain durations for the parser.
    const rules = queries.map((q, i) => `      - record: panel_${i}\n        expr: ${JSON.stringify(q.expr.replace(/\$__(rate_interval|interval|range)/g, "1m"))}`);
    writeFileSync(join(dir, "panels.yml"), `groups:\n  - name: panels\n    rules:\n${rules.join("\n")}\n`);
    const r = await promtool(["check", "rules", join(dir, "panels.yml")]);
    expect(r.ok, r.out).toBe(true);
    expect(r.out).toContain(`SUCCESS: ${queries.length} rules found`);
    // The check is meaningful: a broken query is rejected.
    writeFileSync(join(dir, "bad.yml"), `groups:\n  - name: bad\n    rules:\n      - record: bad\n        expr: "sum by (tier (regent_leader)"\n`);
    expect((await promtool(["check", "rules", join(dir, "bad.yml")])).ok).toBe(false);
  });

  it("the compose demo mounts the dashboards where the provisioning looks for them", () => {
    const provider = readFileSync(join(GRAFANA, "provisioning", "dashboards", "regent.yml"), "utf8");
    const path = /^\s+path: (\S+)$/m.exec(provider)?.[1];
    const yml = composeFromTopology(loadTopology(join(ROOT, "regions")), { mode: "light" });
    expect(yml).toContain(`"./deploy/grafana/dashboards:${path}:ro"`);
    expect(yml).toContain(`GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: "${path}/regent.json"`);
  });
});
