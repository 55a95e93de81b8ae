/**
 * The committed docker-compose demo (docker-compose.yml, deploy/nats/*.conf,
 * deploy/prometheus/prometheus.yml) must be exactly what regions/ generates,
 * so editing a region without running `regent compose` fails here. The files
 * are also checked by the tools that will read them: `docker-compose config
 * -q`, `nats-server -t` and `promtool check config` (all offline, without
 * resolving the hostnames). Without docker-compose or promtool those checks
 * are skipped locally and FAIL in CI (`CI` set), which installs both.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { findNatsServer } from "../../src/launcher/ports.js";
import { COMPOSE_IMAGES, composeFromTopology, natsConfigsFromTopology, prometheusConfigFromTopology, toYaml } from "../../src/topology/compose.js";
import { loadTopology } from "../../src/topology/load.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin", "regent.js");
const CONF_DIR = join(ROOT, "deploy", "nats");
const topology = loadTopology(join(ROOT, "regions"));

const temps: string[] = [];
afterAll(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A temp dir holding a copy of regions/ (compose files are generated next to it). */
function tempProject(): string {
  const dir = mkdtempSync(join(tmpdir(), "regent-compose-"));
  temps.push(dir);
  cpSync(join(ROOT, "regions"), join(dir, "regions"), { recursive: true });
  return dir;
}

/** `regent <args>` in `cwd`; never rejects, so failures can be asserted on. */
async function regent(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { cwd, timeout: 30_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

function hasCommand(cmd: string, args: string[]): Promise<boolean> {
  return run(cmd, args, { timeout: 10_000 }).then(
    () => true,
    () => false,
  );
}

describe("committed compose files match regions/", () => {
  it("docker-compose.yml is composeFromTopology(regions/, light)", () => {
    const committed = readFileSync(join(ROOT, "docker-compose.yml"), "utf8");
    expect(committed, "docker-compose.yml is stale: run `npm run regent -- compose`").toBe(composeFromTopology(topology, { mode: "light" }));
  });

  it("deploy/nats/*.conf are natsConfigsFromTopology(regions/, light), no more, no less", () => {
    const expected = natsConfigsFromTopology(topology, "light");
    const onDisk = readdirSync(CONF_DIR).filter((n) => n.endsWith(".conf"));
    expect(onDisk.sort(), "deploy/nats is stale: run `npm run regent -- compose`").toEqual(Object.keys(expected).map((s) => `${s}.conf`).sort());
    for (const [server, text] of Object.entries(expected)) {
      expect(readFileSync(join(CONF_DIR, `${server}.conf`), "utf8"), `deploy/nats/${server}.conf is stale`).toBe(text);
    }
  });

  it("deploy/prometheus/prometheus.yml is prometheusConfigFromTopology(regions/, light)", () => {
    const committed = readFileSync(join(ROOT, "deploy", "prometheus", "prometheus.yml"), "utf8");
    expect(committed, "deploy/prometheus/prometheus.yml is stale: run `npm run regent -- compose`").toBe(prometheusConfigFromTopology(topology, "light"));
  });

  it("`regent compose --check` agrees", async () => {
    const r = await regent(["compose", "--check"], ROOT);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/up to date/);
  });
});

describe("what is generated", () => {
  const yml = composeFromTopology(topology, { mode: "light" });
  const confs = natsConfigsFromTopology(topology, "light");

  it("one nats service per server and one node service per candidate; only <first region>-1, Prometheus and Grafana reach the host", () => {
    const servers = topology.regions.map((r) => `${r.name}-1`);
    expect(Object.keys(confs)).toEqual(servers);
    for (const s of servers) {
      expect(yml).toContain(`\n  ${s}:\n    image: "${COMPOSE_IMAGES.nats}"\n    hostname: "${s}"\n`);
      expect(yml).toContain(`\n  ${s}-data: {}\n`);
    }
    for (const r of topology.regions) {
      for (const id of r.candidateIds) {
        // The image of the repository's Dockerfile, built by compose.
        expect(yml).toContain(`\n  node-${id}:\n    image: "regent:local"\n    build:\n      context: "."\n      dockerfile: "Dockerfile"\n`);
        expect(yml).toContain(`      - "node"\n      - "--region"\n      - "${r.name}"\n      - "--id"\n      - "${id}"\n      - "--regions"\n      - "/etc/regent/regions"`);
      }
      expect(yml).toContain(`"--servers"\n      - "nats://${r.name}-1:4222"\n      - "--nkey"\n      - "/run/regent/nats.nk"\n      - "--tls-ca"\n      - "/run/regent/ca.pem"\n      - "--metrics-address"\n      - "0.0.0.0:9464"\n    depends_on: ["${r.name}-1"]`);
    }
    // Every node has a healthcheck on /healthz, every server one on its monitoring port's /healthz.
    expect(yml.match(/healthcheck:\n {6}test:\n(?: {8}- .*\n){3} {8}- "fetch\(\\"http:\/\/127\.0\.0\.1:9464\/healthz\\"\)/g)).toHaveLength(topology.regions.reduce((n, r) => n + r.candidates, 0));
    expect(yml.match(/healthcheck:\n {6}test: \["CMD", "wget", "-q", "-O", "\/dev\/null", "http:\/\/127\.0\.0\.1:8222\/healthz"\]/g)).toHaveLength(servers.length);
    // Published ports are all on loopback: one NATS client port, Prometheus and Grafana.
    expect(yml.match(/ports: .*/g)).toEqual([`ports: ["127.0.0.1:4222:4222"]`, `ports: ["127.0.0.1:9090:9090"]`, `ports: ["127.0.0.1:3000:3000"]`]);
    const first = `${topology.regions[0]!.name}-1`;
    expect(yml).toContain(`\n  ${first}:\n`);
    // On loopback only: the demo's client port is not offered to the network.
    expect(yml.split(`\n  ${first}:\n`)[1]!.split(`\n  ${topology.regions[1]!.name}-1:\n`)[0]).toContain(`ports: ["127.0.0.1:4222:4222"]`);
    expect(yml).not.toMatch(/global-/);
  });

  it("every config routes within its region's cluster (a one-server cluster to itself), carries its server tags, and gateways to every region; no global cluster", () => {
    const clusters = topology.regions.map((r) => r.name);
    for (const [server, text] of Object.entries(confs)) {
      const cluster = server.replace(/-\d+$/, "");
      expect(text).toContain(`server_name: "${server}"`);
      expect(text).toContain(`server_tags: ["srv:${server}", "region:${cluster}"]`);
      expect(text).toMatch(new RegExp(`cluster \\{\\n  name: "${cluster}"`));
      expect(text).toContain(`"nats-route://${server}:6222"`); // the nats-server 2.9 quirk
      for (const c of clusters) expect(text).toContain(`{ name: "${c}", urls: [`);
      expect(text.match(/\{ name: "[^"]+", urls: \[/g)).toHaveLength(clusters.length);
      expect(text).not.toMatch(/global-|name: "global"/);
    }
  });

  it("every server requires TLS and an nkey on clients, and the server certificate on routes and gateways; no anonymous user", () => {
    for (const [server, text] of Object.entries(confs)) {
      expect(text, server).toContain(`include "secrets/nkeys.conf"`);
      expect(text, server).toMatch(/^tls \{ cert_file: "secrets\/server.pem", key_file: "secrets\/server-key.pem", ca_file: "secrets\/ca.pem"/m);
      expect(text, server).not.toMatch(/no_auth_user|password|authorization \{\s*\}/);
      const users = text.match(/\{ nkey: \$REGENT_NKEY_[A-Z0-9_]+, permissions: /g) ?? [];
      expect(users, server).toHaveLength(topology.regions.length + 2);
      // Twice each: the cluster block and the gateway block.
      expect(text.match(/verify_and_map: true \}\n  authorization \{ user: "CN=regent-nats-server" \}/g), server).toHaveLength(2);
    }
    // Each node gets its own region's seed and the CA, and the secrets directory is hidden from the repository mount.
    for (const r of topology.regions) {
      const svc = yml.split(`\n  node-${r.candidateIds[0]}:\n`)[1]!.split("\n  node-")[0]!;
      expect(svc).toContain(`"./deploy/secrets/clients/node-${r.name}.nk:/run/regent/nats.nk:ro"`);
      // No repository mount: only the topology, read-only; and a non-root user.
      expect(svc).toContain(`"./regions:/etc/regent/regions:ro"`);
      expect(svc).not.toMatch(/"\.:|\/app/);
      expect(svc).toContain(`user: "\${REGENT_UID:-1000}:\${REGENT_GID:-1000}"`);
      expect(svc).not.toMatch(/operator\.nk|observer\.nk/);
    }
  });

  it("full mode uses each region's server count", () => {
    const full = natsConfigsFromTopology(topology, "full");
    expect(Object.keys(full)).toHaveLength(topology.regions.reduce((n, r) => n + r.servers, 0));
    const eu2 = full["eu-west-2"]!;
    expect(eu2).toContain(`"nats-route://eu-west-1:6222"`);
    expect(eu2).toContain(`"nats-route://eu-west-3:6222"`);
    expect(eu2).not.toContain(`"nats-route://eu-west-2:6222"`);
    expect(eu2).toContain(`server_tags: ["srv:eu-west-2", "region:eu-west"]`);
    expect(composeFromTopology(topology, { mode: "full" })).toContain(`"nats://eu-west-1:4222,nats://eu-west-2:4222,nats://eu-west-3:4222"`);
  });

  it("prometheus.yml scrapes every node's metrics port, labelled with its region, and loads the alert rules", () => {
    const prom = prometheusConfigFromTopology(topology, "light");
    expect(prom).toContain(`rule_files: ["alerts.yml"]\nscrape_configs:\n  - job_name: "regent"\n    static_configs:\n`);
    for (const r of topology.regions) {
      expect(prom).toContain(`      - targets: [${r.candidateIds.map((id) => `"node-${id}:9464"`).join(", ")}]\n        labels:\n          region: "${r.name}"\n`);
    }
    // Prometheus and Grafana run with the committed rules and dashboard.
    expect(yml).toContain(`    volumes: ["./deploy/prometheus:/etc/prometheus:ro", "prometheus-data:/prometheus"]\n`);
    expect(yml).toContain(`      - "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro"\n      - "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro"\n`);
  });

  it("toYaml writes mappings inside sequences", () => {
    expect(toYaml({ a: [{ x: 1, y: [{ z: "q" }] }, "s"] })).toBe(`a:\n  - x: 1\n    "y":\n      - z: "q"\n  - "s"\n`);
  });

  it("toYaml quotes keys YAML 1.1 would read as booleans", () => {
    expect(toYaml({ on: "x", "a-b": ["1", "2"], no: {}, n: [] })).toBe(`"on": "x"\na-b: ["1", "2"]\n"no": {}\n"n": []\n`);
  });
});

describe("regent compose", () => {
  it("writes, --check passes, and --check fails once regions/ changes or a stale config is left", async () => {
    const dir = tempProject();
    const w = await regent(["compose", "--mode", "full"], dir);
    expect(w.code, w.stderr).toBe(0);
    expect(readdirSync(join(dir, "deploy", "nats"))).toHaveLength(9);
    expect(readFileSync(join(dir, "deploy", "prometheus", "prometheus.yml"), "utf8")).toBe(prometheusConfigFromTopology(topology, "full"));
    // Secrets: made once, seeds private, kept on the next run (running containers keep their keys).
    const clients = join(dir, "deploy", "secrets", "clients");
    expect(readdirSync(clients).sort()).toEqual(["ca.pem", ...topology.regions.map((r) => `node-${r.name}.nk`), "observer.nk", "operator.nk"].sort());
    expect(statSync(join(clients, "operator.nk")).mode & 0o077).toBe(0);
    if (process.getuid?.() === 0) {
      // As root, the node seeds and the CA go to the image's uid (the node containers' user); the operator's seed stays root's.
      for (const r of topology.regions) expect(statSync(join(clients, `node-${r.name}.nk`)).uid).toBe(1000);
      expect(statSync(join(clients, "ca.pem")).uid).toBe(1000);
      expect(statSync(join(clients, "operator.nk")).uid).toBe(0);
    }
    const seed = readFileSync(join(clients, "node-eu-west.nk"), "utf8");
    const cert = readFileSync(join(dir, "deploy", "secrets", "nats", "server.pem"), "utf8");
    expect((await regent(["compose", "--mode", "full", "--check"], dir)).code).toBe(0);

    // Switching to light removes the configs of servers that no longer exist.
    expect((await regent(["compose"], dir)).code).toBe(0);
    expect(readdirSync(join(dir, "deploy", "nats"))).toHaveLength(3);
    expect(readFileSync(join(clients, "node-eu-west.nk"), "utf8")).toBe(seed);
    expect(readFileSync(join(dir, "deploy", "secrets", "nats", "server.pem"), "utf8")).toBe(cert);
    expect((await regent(["compose", "--check"], dir)).code).toBe(0);

    const us = join(dir, "regions", "us-east.json");
    writeFileSync(us, JSON.stringify({ ...JSON.parse(readFileSync(us, "utf8")), candidates: 3 }));
    const stale = await regent(["compose", "--check"], dir);
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toMatch(/^regent: compose files out of date with regions: docker-compose.yml differs; deploy\/prometheus\/prometheus.yml differs; run `regent compose/);
    expect(stale.stderr.trim().split("\n")).toHaveLength(1);

    expect((await regent(["compose"], dir)).code).toBe(0);
    writeFileSync(join(dir, "deploy", "prometheus", "prometheus.yml"), "global: {}\n");
    expect((await regent(["compose", "--check"], dir)).stderr).toMatch(/prometheus\.yml differs/);

    expect((await regent(["compose"], dir)).code).toBe(0);
    writeFileSync(join(dir, "deploy", "nats", "mars-1.conf"), "");
    const extra = await regent(["compose", "--check"], dir);
    expect(extra.code).not.toBe(0);
    expect(extra.stderr).toMatch(/mars-1\.conf is not generated/);
  });
});

describe("external validators", () => {
  it("docker-compose -f docker-compose.yml config -q (light, committed; full, generated)", async (ctx) => {
    if (!(await hasCommand("docker-compose", ["version"]))) {
      if (process.env.CI) throw new Error("docker-compose is not installed; .ci/run must install it (apt-get install docker-compose)");
      ctx.skip();
    }
    const dir = tempProject();
    expect((await regent(["compose", "--mode", "full"], dir)).code).toBe(0);
    for (const file of [join(ROOT, "docker-compose.yml"), join(dir, "docker-compose.yml")]) {
      // Offline: `config` parses and validates the file, no Docker engine needed.
      const r = await run("docker-compose", ["-f", file, "config", "-q"], { timeout: 30_000 }).catch((e: { stderr?: string }) => ({ stderr: `FAILED: ${e.stderr}` }));
      expect(r.stderr, file).not.toMatch(/FAILED/);
    }
  });

  it("promtool check config accepts prometheus.yml (light, committed; full, generated) with the alert rules", async (ctx) => {
    if (!(await hasCommand("promtool", ["--version"]))) {
      if (process.env.CI) throw new Error("promtool is not installed; .ci/run must install it (apt-get install prometheus)");
      ctx.skip();
    }
    const dir = tempProject();
    expect((await regent(["compose", "--mode", "full"], dir)).code).toBe(0);
    cpSync(join(ROOT, "deploy", "prometheus", "alerts.yml"), join(dir, "deploy", "prometheus", "alerts.yml"));
    for (const file of [join(ROOT, "deploy", "prometheus", "prometheus.yml"), join(dir, "deploy", "prometheus", "prometheus.yml")]) {
      const r = await run("promtool", ["check", "config", file], { timeout: 30_000 }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: "", stderr: `FAILED: ${e.stdout ?? ""}${e.stderr ?? ""}` }));
      expect(`${r.stdout}${r.stderr}`, file).toMatch(/SUCCESS: 6 rules found/);
      expect(r.stderr, file).not.toMatch(/FAILED/);
    }
  });

  it("nats-server -t accepts every config (light and full) with the secrets `regent compose` makes; hostnames are not resolved in test mode", async () => {
    const bin = findNatsServer();
    const dir = tempProject();
    expect((await regent(["compose"], dir)).code).toBe(0); // makes deploy/secrets
    // As in the container: the config's directory holds `secrets/` and is the working directory.
    const etc = join(dir, "etc-nats");
    mkdirSync(etc);
    cpSync(join(dir, "deploy", "secrets", "nats"), join(etc, "secrets"), { recursive: true });
    const files: string[] = [];
    for (const n of readdirSync(CONF_DIR)) {
      cpSync(join(CONF_DIR, n), join(etc, `committed-${n}`));
      files.push(join(etc, `committed-${n}`));
    }
    for (const [server, text] of Object.entries(natsConfigsFromTopology(topology, "full"))) {
      const f = join(etc, `${server}.conf`);
      writeFileSync(f, text);
      files.push(f);
    }
    for (const f of files) {
      const r = await run(bin, ["-c", f, "-t"], { cwd: etc, timeout: 10_000 }).catch((e: { stderr?: string; stdout?: string }) => ({ stdout: "", stderr: `FAILED: ${e.stderr ?? ""}${e.stdout ?? ""}` }));
      expect(`${r.stdout}${r.stderr}`, f).toMatch(/is valid/);
    }
    // The check is meaningful: an unknown field is rejected.
    const bad = join(dir, "bad.conf");
    writeFileSync(bad, `${readFileSync(files[0]!, "utf8")}\nnot_a_field: 1\n`);
    await expect(run(bin, ["-c", bad, "-t"], { cwd: etc })).rejects.toThrow();
  });
});
