/**
 * `regent node` never exits on its own, not even when NATS is not there yet:
 * it retries its first connection (logging each failure), answers /healthz
 * meanwhile, and connects once the server comes up. SIGTERM while waiting
 * exits 0 promptly.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RegentProcess } from "../../src/launcher/candidates.js";
import { findNatsServer, freePorts, waitFor } from "../../src/launcher/nats-launcher.js";

/** Resolves once the process's stderr matches `re` (or rejects when it exits first). */
function stderrMatches(p: RegentProcess, re: RegExp, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (re.test(p.stderr)) done(resolve);
      else if (!p.running) done(() => reject(new Error(`${p.id} exited; stderr: ${p.stderr}`)));
    };
    const timer = setTimeout(() => done(() => reject(new Error(`${p.id}: stderr never matched ${re}: ${p.stderr}`))), timeoutMs);
    const done = (fn: () => void) => {
      clearTimeout(timer);
      p.proc.stderr!.off("data", onData);
      off();
      fn();
    };
    // After RegentProcess's own listener has appended the chunk.
    const onData = () => setImmediate(check);
    p.proc.stderr!.on("data", onData);
    const off = p.onChange(check);
    check();
  });
}

describe("regent node before NATS is up", () => {
  const dir = mkdtempSync(join(tmpdir(), "regent-node-wait-"));
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it("waits for its first connection, logs the retries, then connects", async () => {
    // Two regions (the minimum); the node only ever connects to its own region's server.
    const regions = join(dir, "regions");
    mkdirSync(regions);
    writeFileSync(join(regions, "global.json"), JSON.stringify({ cluster: "waiting", global: { leaseMs: 3000 }, scopes: { leaseMs: 3000, failbackAfterMs: 5000 } }));
    writeFileSync(join(regions, "solo.json"), JSON.stringify({ name: "solo", servers: 1, candidates: 1, leaseMs: 2000, failover: ["other"] }));
    writeFileSync(join(regions, "other.json"), JSON.stringify({ name: "other", servers: 1, candidates: 1, leaseMs: 2000, failover: ["solo"] }));
    const [port, monitor, metrics] = await freePorts(3);
    const url = `nats://127.0.0.1:${port}`;
    const node = new RegentProcess("solo-1", ["node", "--json", "--region", "solo", "--id", "solo-1", "--regions", regions, "--servers", url, "--log-level", "info", "--metrics-port", String(metrics)]);
    cleanup.push(() => node.stop());

    // Nothing listens yet: it must keep retrying, say so, and stay alive.
    await stderrMatches(node, /"attempt":2,.*first connection.*retrying/);
    expect(node.running, node.stderr).toBe(true);
    const live = await fetch(`http://127.0.0.1:${metrics}/healthz`);
    expect(live.status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${metrics}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: "disconnected" });

    // Now the server comes up on that port (a plain process: the launcher picks its own ports).
    const store = join(dir, "js");
    const server = spawn(findNatsServer(), ["-a", "127.0.0.1", "-p", String(port), "-m", String(monitor), "-js", "-sd", store], { stdio: "ignore" });
    cleanup.push(async () => {
      server.kill("SIGKILL");
    });
    // It connects on a retry (no restart: same process), as the server sees.
    await stderrMatches(node, /connected to NATS/, 30_000);
    expect(node.running).toBe(true);
    const connz = await waitFor(
      async () => {
        const c = (await (await fetch(`http://127.0.0.1:${monitor}/connz`)).json()) as { connections?: { name?: string }[] };
        return c.connections?.some((x) => x.name === "regent-node-solo-1") && c;
      },
      { timeoutMs: 10_000, what: "the node's connection in /connz" },
    );
    expect(connz).toBeTruthy();
  }, 90_000);

  it("exits 0 on SIGTERM while still waiting", async () => {
    const [port] = await freePorts(1);
    const node = new RegentProcess("solo-2", ["node", "--json", "--region", "solo", "--id", "solo-2", "--regions", join(dir, "regions"), "--servers", `nats://127.0.0.1:${port}`, "--log-level", "info"]);
    cleanup.push(() => node.stop());
    await stderrMatches(node, /first connection.*retrying/);
    const code = new Promise<number | null>((r) => node.proc.once("exit", (c) => r(c)));
    const t0 = performance.now();
    node.proc.kill("SIGTERM");
    expect(await code).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5_000);
  }, 60_000);
});
