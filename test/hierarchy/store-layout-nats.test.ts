/**
 * `openStoreLayout` and the quorum wiring of `startNode` on a real
 * nats-server (one server, `placement: false`: the contract's server tags
 * need the new launcher). Three regions; region c has no node, so its quorum
 * bucket does not exist: the nodes of a and b must start anyway, elect a
 * global leader on the two stores they have, and hold their scopes; once c
 * comes, its lazily bound bucket is picked up on a later call.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStoreLayout } from "../../src/hierarchy/store-layout.js";
import { readState, stateSourceOf, type LayoutStores } from "../../src/hierarchy/bus.js";
import { startNode, type RegentNode } from "../../src/hierarchy/node.js";
import { LazyLeaseStore } from "../../src/lease/lazy-store.js";
import { startNatsServer, waitFor, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import { quorumBucket } from "../../src/wire/names.js";

const REGIONS = ["a", "b", "c"];
const layout = (region: string) => ({ cluster: "dq", region, regions: REGIONS.map((name) => ({ name, replicas: 1 })), placement: false });
const SCOPE_REGIONS = REGIONS.map((name) => ({ name, failover: REGIONS.filter((r) => r !== name), leaseMs: 1500 }));

let server: NatsServerHandle;
let nc: NatsConnection;
const nodes: RegentNode[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
});
afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop({ signal: AbortSignal.timeout(5_000) }).catch(() => undefined)));
  await nc?.close();
  await server?.stop();
});

function nodeOf(region: string, stores: LayoutStores): RegentNode {
  const n = startNode({
    cluster: "dq",
    region,
    id: `${region}-1`,
    regionalStore: stores.regionalStores()[0]!,
    quorumStores: stores.quorumStores,
    regionalTiming: { leaseMs: 1500, renewMs: 400 },
    globalTiming: { leaseMs: 1500, renewMs: 400 },
    scopes: {
      timing: { leaseMs: 1500, renewMs: 400 },
      failbackAfterMs: 2_000,
      regions: SCOPE_REGIONS,
      regionStore: async (r) => stores.regions.get(r)!,
    },
  });
  nodes.push(n);
  return n;
}

describe("a deployment of per-region quorum buckets on a real nats-server", () => {
  it("starts without a region's bucket, leads on a majority of stores, and binds the missing bucket once it exists", async () => {
    const a = await openStoreLayout(nc, layout("a"), { signal: AbortSignal.timeout(20_000) });
    const b = await openStoreLayout(nc, layout("b"), { signal: AbortSignal.timeout(20_000) });
    // Own buckets created; c's is only bound lazily, and does not exist.
    const jsm = await jetstreamManager(nc);
    await expect(jsm.streams.info(`KV_${quorumBucket("a")}`)).resolves.toBeDefined();
    await expect(jsm.streams.info(`KV_${quorumBucket("c")}`)).rejects.toThrow();
    expect(a.quorumRegions).toEqual(REGIONS);
    expect(a.quorum[2]).toBeInstanceOf(LazyLeaseStore);
    // Each participant gets store objects of its own.
    expect(a.quorumStores()[0]).not.toBe(a.quorumStores()[0]);

    const na = nodeOf("a", a);
    const nb = nodeOf("b", b);
    await waitFor(() => na.global().held || nb.global().held, { timeoutMs: 20_000, what: "a global leader on stores a and b" });
    await waitFor(() => na.scope("a").held && nb.scope("b").held, { timeoutMs: 20_000, what: "scopes a and b held at home" });
    const s = await readState(stateSourceOf(a), "test");
    expect(s.global).toMatchObject({ state: "held", quorum: { stores: 3, answered: 2, agree: 2 } });
    expect(s.scopes.a).toMatchObject({ state: "held", region: "a", quorum: { stores: 3, answered: 2 } });
    // Scope c has no live home: it fails over to a or b.
    await waitFor(() => na.scope("c").held || nb.scope("c").held, { timeoutMs: 20_000, what: "scope c held in its failover region" });

    // Region c arrives: its bucket now exists, and the running nodes' lazy stores bind it on a later call.
    const c = await openStoreLayout(nc, layout("c"), { signal: AbortSignal.timeout(20_000) });
    const nc1 = nodeOf("c", c);
    await waitFor(() => nc1.scope("c").held, { timeoutMs: 30_000, what: "scope c failed back home" });
    await waitFor(async () => (await readState(stateSourceOf(a), "test")).global.quorum?.agree === 3, { timeoutMs: 20_000, what: "the global lease on all three stores" });
  }, 120_000);
});
