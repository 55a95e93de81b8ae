import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { AbortedError, ConflictError, StoreUnavailableError } from "../../src/errors.js";
import {
  findNatsServer,
  pidAlive,
  serverIndex,
  startNatsCluster,
  startNatsServer,
  streamLeader,
  waitFor,
  waitForStreamLeader,
  type NatsServerHandle,
} from "../../src/launcher/nats-launcher.js";
import { NatsLeaseStore } from "../../src/lease/nats-store.js";

const enc = (s: string) => new TextEncoder().encode(s);

// Everything a test starts is registered here and torn down even when the test fails.
const handles: NatsServerHandle[] = [];
const conns: NatsConnection[] = [];
afterEach(async () => {
  await Promise.all(conns.splice(0).map((c) => c.close().catch(() => undefined)));
  await Promise.all(handles.splice(0).map((h) => h.stop()));
});

function pidsOf(h: NatsServerHandle): number[] {
  return h.servers.map((s) => s.pid).filter((p): p is number => p !== undefined);
}

describe("findNatsServer", () => {
  it("finds the binary, and explains how to install it when NATS_SERVER_BIN is wrong", () => {
    expect(findNatsServer()).toMatch(/nats-server$/);
    const saved = process.env["NATS_SERVER_BIN"];
    process.env["NATS_SERVER_BIN"] = "/nonexistent/nats-server";
    try {
      expect(() => findNatsServer()).toThrow(/not an executable/);
    } finally {
      if (saved === undefined) delete process.env["NATS_SERVER_BIN"];
      else process.env["NATS_SERVER_BIN"] = saved;
    }
  });
});

describe("startNatsServer", () => {
  it("starts a JetStream server on loopback and stop() removes process and temp dir", async () => {
    const h = await startNatsServer();
    handles.push(h);
    expect(h.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(h.clusterName).toBeUndefined();
    const [pid] = pidsOf(h);
    expect(pid && pidAlive(pid)).toBe(true);
    const nc = await connect({ servers: h.url });
    conns.push(nc);
    expect(nc.info?.jetstream).toBe(true);
    const dir = dirname(h.servers[0]!.storeDir);
    expect(existsSync(h.servers[0]!.logFile)).toBe(true);
    await h.stop();
    expect(pidAlive(pid!)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it("a SIGKILLed parent leaves no nats-server behind (setpriv --pdeathsig)", async (ctx) => {
    if (!existsSync("/usr/bin/setpriv") && !existsSync("/bin/setpriv")) ctx.skip();
    const script = [
      `import { startNatsServer } from ${JSON.stringify(new URL("../../src/launcher/nats-launcher.ts", import.meta.url).pathname)};`,
      "const h = await startNatsServer();",
      "console.log(JSON.stringify({ pid: h.servers[0].pid, dir: h.servers[0].storeDir }));",
      "setInterval(() => {}, 1000);",
    ].join("\n");
    const parent = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    let server: { pid: number; dir: string } | undefined;
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: parent.stdout! }).once("line", resolve);
        parent.once("exit", () => reject(new Error("parent exited early")));
      });
      server = JSON.parse(line) as { pid: number; dir: string };
      expect(pidAlive(server.pid)).toBe(true);
      parent.kill("SIGKILL");
      // Our init may not reap orphans at once, so a zombie counts as gone.
      const gone = (pid: number) => !pidAlive(pid) || /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
      await waitFor(() => gone(server!.pid), { timeoutMs: 5_000, what: "the orphaned server to die" });
    } finally {
      parent.kill("SIGKILL");
      if (server) {
        if (pidAlive(server.pid)) process.kill(server.pid, "SIGKILL");
        rmSync(dirname(server.dir), { recursive: true, force: true }); // its exit hooks never ran
      }
    }
  });

  it("can start without JetStream", async () => {
    const h = await startNatsServer({ jetstream: false });
    handles.push(h);
    const nc = await connect({ servers: h.url });
    conns.push(nc);
    expect(nc.info?.jetstream ?? false).toBe(false);
  });

  it("rejects with AbortedError on an aborted signal", async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(startNatsServer({ signal: ac.signal })).rejects.toBeInstanceOf(AbortedError);
  });
});

describe("startNatsCluster", () => {
  it("3-node cluster: R3 bucket survives a stream-leader kill, writes resume, stop() leaves nothing", async () => {
    const cluster = await startNatsCluster({ size: 3 });
    handles.push(cluster);
    expect(cluster.urls).toHaveLength(3);
    expect(new Set(cluster.servers.map((s) => s.name)).size).toBe(3);

    const setup = await connect({ servers: cluster.urls });
    conns.push(setup);
    const setupStore = await NatsLeaseStore.open(setup, { bucket: "ha", replicas: 3, timeoutMs: 5_000 });
    let rev = await setupStore.create("leader", enc("w0"));
    const leader = await waitForStreamLeader(cluster, "KV_ha", { timeoutMs: 20_000 });
    const leaderIdx = serverIndex(cluster, leader);
    expect(leaderIdx).toBeGreaterThanOrEqual(0);

    // Talk through the followers only, so the gap measured is the stream's
    // leader election, not the client's own reconnect.
    const followers = cluster.servers.filter((s) => s.name !== leader).map((s) => s.url);
    const nc = await connect({ servers: followers, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    conns.push(nc);
    // Retried as `regent` opens it: a bind through a follower can outlast 2 s on a loaded machine (seen in CI).
    const store = await NatsLeaseStore.openRetrying(nc, { bucket: "ha", create: false, timeoutMs: 2_000, signal: AbortSignal.timeout(20_000) });
    rev = await store.update("leader", enc("w1"), rev);

    const killedPid = cluster.servers[leaderIdx]!.pid!;
    await cluster.kill(leaderIdx, "SIGKILL");
    expect(pidAlive(killedPid)).toBe(false);
    const t0 = Date.now();
    let failures = 0;
    // Keep writing (compare-and-set chain) until one succeeds. A timed-out
    // write may still have been applied, so a conflict means "re-read".
    const resumed = await waitFor(
      async () => {
        try {
          rev = await store.update("leader", enc("w2"), rev);
          return Date.now() - t0;
        } catch (err) {
          failures++;
          if (err instanceof ConflictError) {
            const cur = await store.get("leader");
            if (cur) rev = cur.revision;
          } else if (!(err instanceof StoreUnavailableError)) {
            throw err;
          }
          return undefined;
        }
      },
      { timeoutMs: 20_000, intervalMs: 50, what: "writes to resume after the stream-leader kill" },
    );
    console.log(`stream-leader kill: writes resumed after ${resumed} ms (${failures} failed attempts)`);
    expect(resumed).toBeLessThan(20_000);

    const newLeader = await waitForStreamLeader(cluster, "KV_ha", { notIn: [leader], timeoutMs: 20_000 });
    expect(newLeader).not.toBe(leader);
    expect((await store.get("leader"))?.revision).toBe(rev);

    // The killed server comes back with its ports and store dir, and catches up.
    await cluster.restart(leaderIdx);
    expect(cluster.servers[leaderIdx]!.running).toBe(true);
    expect(await streamLeader(cluster, "KV_ha")).toBeDefined();

    const pids = pidsOf(cluster);
    expect(pids).toHaveLength(3);
    const root = dirname(dirname(cluster.servers[0]!.storeDir));
    await cluster.stop();
    for (const p of pids) expect(pidAlive(p)).toBe(false);
    expect(cluster.servers.every((s) => !s.running)).toBe(true);
    expect(existsSync(root)).toBe(false);
  });
});
