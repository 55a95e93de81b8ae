import { describe, expect, it } from "vitest";
import { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import { startNode } from "../../src/hierarchy/node.js";
import { RegentMetrics, serveMetrics } from "../../src/observability/metrics.js";

describe("metrics", () => {
  it("exports leadership, tokens, transitions and store latency on /metrics", async () => {
    const m = new RegentMetrics();
    const node = startNode({
      cluster: "t",
      region: "eu",
      id: "eu-1",
      regionalStore: m.instrumentStore(new MemoryLeaseStore("eu")),
      globalStore: m.instrumentStore(new MemoryLeaseStore("global")),
      regionalTiming: { leaseMs: 600, renewMs: 150 },
      globalTiming: { leaseMs: 600, renewMs: 150 },
    });
    const off = m.instrument(node);
    await new Promise<void>((r) => node.on((e) => e.type === "elected" && e.tier === "global" && r()));
    const server = await serveMetrics(m, 0);
    const port = (server.address() as { port: number }).port;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(/regent_leader\{lease="region\/eu"\} 1/);
    expect(text).toMatch(/regent_leader\{lease="global"\} 1/);
    expect(text).toMatch(/regent_fencing_token\{lease="global"\} [1-9]/);
    expect(text).toMatch(/regent_transitions_total\{lease="global",kind="acquired",reason=""\} 1/);
    expect(text).toMatch(/regent_store_op_seconds_count\{store="eu",op="create",outcome="ok"\} 1/);
    expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
    server.close();
    await node.stop();
    off();
    const after = await m.registry.getSingleMetricAsString("regent_transitions_total");
    expect(after, after).toMatch(/lease="global",kind="ended",reason="stopped"\} 1/);
  });
});
