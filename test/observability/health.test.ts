/**
 * /healthz and /readyz of a node (served next to /metrics): liveness fails
 * for a while after an event-loop stall, readiness needs a NATS connection
 * and a running regional election.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Server } from "node:http";
import { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import { startNode } from "../../src/hierarchy/node.js";
import { NodeHealth } from "../../src/observability/health.js";
import { RegentMetrics, serveMetrics } from "../../src/hierarchy/metrics.js";
import type { StallInfo } from "../../src/observability/stall-shared.js";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function serve(health: NodeHealth): Promise<(path: string) => Promise<{ status: number; body: Record<string, unknown> }>> {
  const server: Server = await serveMetrics(new RegentMetrics(), 0, "127.0.0.1", health);
  cleanup.push(() => new Promise((r) => server.close(r)));
  const port = (server.address() as { port: number }).port;
  return async (path) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
}

describe("health endpoints", () => {
  it("/healthz fails for recentStallMs after a stall, then passes again", async () => {
    let now = 1_000;
    let fire: ((s: StallInfo) => void) | undefined;
    const health = new NodeHealth({ now: () => now, recentStallMs: 10_000, subscribeStalls: (_t, l) => ((fire = l), () => undefined) });
    cleanup.push(() => health.close());
    const get = await serve(health);
    expect(await get("/healthz")).toMatchObject({ status: 200, body: { ok: true, status: "ok", stalls: 0 } });
    fire!({ durationMs: 1_234, at: now });
    now += 4_000;
    expect(await get("/healthz")).toMatchObject({ status: 503, body: { ok: false, status: "stalled", stallMs: 1_234, agoMs: 4_000, stalls: 1 } });
    now += 6_001;
    expect(await get("/healthz")).toMatchObject({ status: 200, body: { ok: true, stalls: 1 } });
  });

  it("/healthz reports a real blocked event loop (shared stall monitor)", async () => {
    const health = new NodeHealth({ stallThresholdMs: 200 });
    cleanup.push(() => health.close());
    const get = await serve(health);
    const stalled = new Promise<void>((r) => health.onChange((w) => w === "stall" && r()));
    const end = performance.now() + 600;
    while (performance.now() < end) {
      /* block the loop */
    }
    await stalled;
    const r = await get("/healthz");
    expect(r.status).toBe(503);
    expect(r.body.stallMs as number).toBeGreaterThanOrEqual(200);
  });

  it("/readyz needs the NATS connection and a running regional election", async () => {
    const health = new NodeHealth({ subscribeStalls: () => () => undefined });
    cleanup.push(() => health.close());
    const get = await serve(health);
    expect(await get("/readyz")).toMatchObject({ status: 503, body: { status: "disconnected", reasons: ["NATS disconnected", "starting: lease buckets not open yet"] } });
    health.setConnected(true);
    expect(await get("/readyz")).toMatchObject({ status: 503, body: { status: "starting", reasons: ["starting: lease buckets not open yet"] } });

    const node = startNode({ cluster: "t", region: "eu", id: "eu-1", regionalStore: new MemoryLeaseStore("eu"), quorumStores: [new MemoryLeaseStore("g")], regionalTiming: { leaseMs: 600, renewMs: 150 }, globalTiming: { leaseMs: 600, renewMs: 150 } });
    cleanup.push(() => node.state() !== "stopped" && node.stop());
    health.setNode(node);
    await new Promise<void>((r) => node.on((e) => e.type === "elected" && e.tier === "global" && r()));
    expect(await get("/readyz")).toMatchObject({ status: 200, body: { ok: true, node: "eu-1", region: "eu", regionalLeader: true, globalLeader: true } });

    health.setConnected(false);
    expect(await get("/readyz")).toMatchObject({ status: 503, body: { status: "disconnected", reasons: ["NATS disconnected"] } });
    health.setConnected(true);
    await node.stop();
    expect(await get("/readyz")).toMatchObject({ status: 503, body: { reasons: ["regional election not running (stopped)"] } });
    health.setStopping();
    expect((await get("/readyz")).body.status).toBe("stopping");
    // /metrics is still there beside them.
    expect((await get("/metrics").catch(() => ({ status: 0 }))).status).not.toBe(404);
  });
});
