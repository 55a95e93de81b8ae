/**
 * A node's /metrics: the documented series (docs/metrics.md) and only those,
 * labelled by tier and name; the stall counter on a real event-loop stall;
 * scope moves as a counter that survives the end of an authority term.
 */
import { afterEach, describe, expect, it } from "vitest";
import { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import { startNode, type NodeRoleEvent, type RegentNode } from "../../src/hierarchy/node.js";
import { RegentMetrics, serveMetrics } from "../../src/hierarchy/metrics.js";
import { subscribeStalls } from "../../src/observability/stall-shared.js";
import { documentedSeries } from "./metrics-doc.js";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** One node alone in region "eu": regional, global and scope "eu" leader in well under a second. */
function soloNode(m: RegentMetrics): RegentNode {
  const regional = m.instrumentStore(new MemoryLeaseStore("eu"));
  const timing = { leaseMs: 600, renewMs: 150 };
  const node = startNode({
    cluster: "t",
    region: "eu",
    id: "eu-1",
    regionalStore: regional,
    quorumStores: [m.instrumentStore(new MemoryLeaseStore("global"))],
    regionalTiming: timing,
    globalTiming: timing,
    scopes: { timing, failbackAfterMs: 1_000, regions: [{ name: "eu", failover: [], leaseMs: 600 }], regionStore: async () => regional },
  });
  const off = m.instrument(node);
  cleanup.push(async () => {
    await node.stop();
    off();
  });
  return node;
}

const next = (node: RegentNode, pred: (e: NodeRoleEvent) => boolean) => new Promise<void>((r) => node.on((e) => pred(e) && r()));

async function scrape(m: RegentMetrics): Promise<string> {
  const server = await serveMetrics(m, 0);
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/metrics`);
    expect(res.status).toBe(200);
    return await res.text();
  } finally {
    server.close();
  }
}

describe("metrics", () => {
  it("exports leadership, tokens, transitions and store latency, labelled by tier and name", async () => {
    const m = new RegentMetrics();
    cleanup.push(() => m.close());
    const node = soloNode(m);
    await Promise.all([next(node, (e) => e.type === "elected" && e.tier === "global"), next(node, (e) => e.type === "scope-held")]);
    const text = await scrape(m);
    expect(text).toMatch(/^regent_leader\{tier="region",name="eu"\} 1$/m);
    expect(text).toMatch(/^regent_leader\{tier="global",name="global"\} 1$/m);
    expect(text).toMatch(/^regent_leader\{tier="scope",name="eu"\} 1$/m);
    expect(text).toMatch(/^regent_fencing_token\{tier="global",name="global"\} [1-9]/m);
    expect(text).toMatch(/^regent_transitions_total\{tier="global",name="global",kind="acquired",reason=""\} 1$/m);
    expect(text).toMatch(/^regent_store_op_seconds_count\{store="eu",op="create",outcome="ok"\} [1-9]/m);
    // Read at scrape time: a held lease has validity left, at most one lease.
    const left = Number(/^regent_lease_remaining_seconds\{tier="region",name="eu"\} (\S+)$/m.exec(text)?.[1]);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(0.6);
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);

    const server = await serveMetrics(m, 0);
    expect((await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/nope`)).status).toBe(404);
    server.close();
    await node.stop();
    const after = await m.registry.getSingleMetricAsString("regent_transitions_total");
    expect(after, after).toMatch(/tier="global",name="global",kind="ended",reason="stopped"\} 1/);
    expect(await m.registry.getSingleMetricAsString("regent_leader")).toMatch(/tier="global",name="global"\} 0/);
  });

  it("exposes exactly the series docs/metrics.md lists, with their types and labels", async () => {
    const doc = documentedSeries();
    expect(doc.size).toBeGreaterThan(30);
    const m = new RegentMetrics();
    cleanup.push(() => m.close());
    const node = soloNode(m);
    await next(node, (e) => e.type === "scope-held");
    const text = await scrape(m);
    const exposed = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => [x[1]!, x[2]!]));
    expect([...exposed.keys()].filter((n) => !doc.has(n)), "exposed but not in docs/metrics.md").toEqual([]);
    expect([...doc.keys()].filter((n) => !exposed.has(n)), "in docs/metrics.md but not exposed").toEqual([]);
    for (const metric of m.registry.getMetricsAsArray()) {
      const d = doc.get(metric.name)!;
      expect(exposed.get(metric.name), metric.name).toBe(d.type);
      // prom-client keeps the declared label names; `le` is the histogram's own.
      const declared = ((metric as unknown as { labelNames?: string[] }).labelNames ?? []).filter((l) => l !== "le");
      if (metric.name.startsWith("regent_")) expect(declared, metric.name).toEqual(d.labels);
    }
    // Every regent series that has samples carries exactly its documented labels (default metrics label on the fly).
    for (const line of text.split("\n").filter((l) => l.startsWith("regent_"))) {
      const [, name, labels] = /^([a-z0-9_]+?)(?:_bucket|_sum|_count)?(?:\{(.*)\})? /.exec(line)!;
      const base = doc.has(name!) ? name! : name!.replace(/_(bucket|sum|count)$/, "");
      const keys = [...(labels ?? "").matchAll(/([a-z_]+)="/g)].map((x) => x[1]!).filter((k) => k !== "le");
      expect(keys, line).toEqual(doc.get(base)?.labels);
    }
  });

  it("regent_event_loop_stalls_total counts a real event-loop stall", async () => {
    const m = new RegentMetrics({ stallThresholdMs: 100, defaultMetrics: false });
    cleanup.push(() => m.close());
    const stalls = () => m.registry.getSingleMetric("regent_event_loop_stalls_total")!.get().then((v) => v.values[0]?.value ?? 0);
    expect(await stalls()).toBe(0);
    // The metrics subscribed first, so by the time this listener runs they have counted the stall.
    const seen = new Promise<void>((r) => {
      const off = subscribeStalls(100, () => {
        off();
        r();
      });
    });
    // Let the probe timer start before blocking, then block the loop well past the threshold.
    await new Promise<void>((r) => setImmediate(r));
    const until = performance.now() + 400;
    while (performance.now() < until) {
      /* a synchronous stall */
    }
    await seen;
    expect(await stalls()).toBeGreaterThanOrEqual(1);
    const text = await scrape(m);
    expect(text).toMatch(/^# TYPE regent_event_loop_stalls_total counter$/m);
    expect(Number(/^regent_event_loop_stall_seconds_total (\S+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(0.25);
  });

  it("regent_scope_moves_total is a counter and does not fall back when the authority term ends", async () => {
    const m = new RegentMetrics({ defaultMetrics: false });
    cleanup.push(() => m.close());
    const node = soloNode(m);
    await next(node, (e) => e.type === "scope-held"); // the first grant of scope eu counts as a move
    const moves = async () => Number(/^regent_scope_moves_total (\S+)$/m.exec(await scrape(m))?.[1]);
    expect(await scrape(m)).toMatch(/^# TYPE regent_scope_moves_total counter$/m);
    expect(await moves()).toBe(1);
    // Resigning the global lease ends this node's authority term; it is the
    // only candidate, so it is elected again with a new authority.
    const again = next(node, (e) => e.type === "elected" && e.tier === "global");
    await node.resign("global");
    expect(node.scopeMoves()).toBe(1);
    expect(await moves()).toBe(1);
    await again;
    expect(node.scopeMoves()).toBe(1);
    expect(await moves()).toBe(1);
  });
});
