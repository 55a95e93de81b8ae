import { existsSync, readFileSync } from "node:fs";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { pidAlive, streamLeader, waitFor, waitForStreamLeader } from "../../src/launcher/nats-launcher.js";
import { startSupercluster, type Supercluster } from "../../src/launcher/supercluster.js";
import { superclusterPlan } from "../../src/topology/plan.js";
import { serverName, serverTag } from "../../src/hierarchy/store-layout.js";
import { loadTopology } from "../../src/topology/load.js";
import { quorumBucket, regionBucket } from "../../src/wire/names.js";

const topology = loadTopology();
const REGIONS = ["ap-south", "eu-west", "us-east"];

/** A region's quorum bucket as the contract places it: single replica, pinned to `<region>-1` by its server tag. */
const quorumPlacement = (region: string) => ({ history: 1, replicas: 1, placement: { cluster: region, tags: [serverTag(serverName(region, 1))] } });

const clusters: Supercluster[] = [];
const conns: NatsConnection[] = [];
afterEach(async () => {
  await Promise.all(conns.splice(0).map((c) => c.close().catch(() => undefined)));
  await Promise.all(clusters.splice(0).map((s) => s.stop()));
});

async function client(sc: Supercluster, region: string): Promise<NatsConnection> {
  const nc = await connect({ servers: sc.allUrls(region), name: `test-${region}` });
  conns.push(nc);
  return nc;
}

/** Short request timeouts, so a retry loop gets several attempts inside a leader election. */
const kvm = (nc: NatsConnection) => new Kvm(jetstream(nc, { timeout: 2_000 }));

/** create, create-conflict, update, stale-update: the CAS the elections rely on. Returns the last revision. */
async function casRoundTrip(kv: KV, key: string): Promise<number> {
  const r1 = await kv.create(key, "a");
  await expect(kv.create(key, "b")).rejects.toThrow(/wrong last sequence/);
  const r2 = await kv.update(key, "b", r1);
  expect(r2).toBeGreaterThan(r1);
  await expect(kv.update(key, "c", r1)).rejects.toThrow(/wrong last sequence/);
  expect((await kv.get(key))?.string()).toBe("b");
  return r2;
}

/**
 * Writes `value` to `key` by CAS, retrying through a leader election. Each
 * attempt re-reads the key, so an attempt that timed out but was applied
 * counts instead of failing every later CAS.
 */
async function casEventually(kv: KV, key: string, value: string, timeoutMs: number): Promise<number> {
  return waitFor(
    async () => {
      const e = await kv.get(key);
      if (!e) throw new Error(`${key} vanished`);
      if (e.string() === value) return e.revision;
      return kv.update(key, value, e.revision);
    },
    { timeoutMs, intervalMs: 200, what: `a CAS on ${key}` },
  );
}

describe("startSupercluster, light mode", () => {
  it("runs one cluster per region, pins quorum buckets by server tag, and a region loss stalls no other region's bucket", async () => {
    const t0 = performance.now();
    const sc = await startSupercluster(topology, { mode: "light" });
    clusters.push(sc);
    const startMs = Math.round(performance.now() - t0);
    console.log(`light supercluster (${sc.all.servers.length} servers) ready in ${startMs} ms`);

    expect(Object.keys(sc.regions)).toEqual(REGIONS);
    expect(sc.all.servers.map((s) => s.name)).toEqual(["ap-south-1", "eu-west-1", "us-east-1"]);
    expect(sc.regions["eu-west"]?.servers.map((s) => [s.name, s.cluster, s.region, [...s.tags]])).toEqual([["eu-west-1", "eu-west", "eu-west", ["srv:eu-west-1", "region:eu-west"]]]);
    expect(sc).not.toHaveProperty("global");
    expect(sc.urls).toEqual(REGIONS.flatMap((r) => sc.allUrls(r)));
    expect(sc.allUrls("eu-west")).toEqual(sc.regions["eu-west"]?.urls);
    const ports = sc.all.servers.flatMap((s) => [s.port, s.clusterPort, s.monitorPort]);
    expect(new Set(ports).size).toBe(ports.length);
    for (const s of sc.all.servers) expect(readFileSync(s.logFile, "utf8")).toContain("Server is ready");

    // Every bucket created from eu-west: its regional bucket in its own
    // cluster, and each region's quorum bucket on that region's first server.
    const eu = await client(sc, "eu-west");
    expect(eu.info?.cluster).toBe("eu-west");
    await kvm(eu).create(regionBucket("eu-west"), { history: 1, replicas: 1, placement: { cluster: "eu-west", tags: [] } });
    expect(await streamLeader(sc.all, `KV_${regionBucket("eu-west")}`)).toBe("eu-west-1");
    for (const r of REGIONS) {
      await kvm(eu).create(quorumBucket(r), quorumPlacement(r));
      expect(await streamLeader(sc.all, `KV_${quorumBucket(r)}`)).toBe(`${r}-1`);
    }

    // CAS on all of them from us-east, through the gateways.
    const us = await client(sc, "us-east");
    expect(us.info?.cluster).toBe("us-east");
    const regionKv = await kvm(us).open(regionBucket("eu-west"));
    await casRoundTrip(regionKv, "leader");
    const quorumKv = Object.fromEntries(await Promise.all(REGIONS.map(async (r) => [r, await kvm(us).open(quorumBucket(r))] as const)));
    for (const r of REGIONS) await casRoundTrip(quorumKv[r]!, "global.leader");

    const doomed = sc.regions["eu-west"]!.servers;
    const pids = doomed.map((s) => s.pid!);
    const tKill = performance.now();
    await sc.killRegion("eu-west");
    expect(doomed.every((s) => !s.running)).toBe(true);
    expect(pids.some(pidAlive)).toBe(false);
    // Only eu-west's own servers.
    expect(sc.all.servers.filter((s) => s.running).map((s) => s.name)).toEqual(["ap-south-1", "us-east-1"]);

    // The surviving regions' quorum buckets are a majority and need no Raft
    // of eu-west's: writable from us-east right away (issue 11: with the
    // stretched R3 bucket this waited 4–9 s for a new stream leader).
    for (const r of ["ap-south", "us-east"]) await casEventually(quorumKv[r]!, "global.leader", "written-while-eu-west-down", 20_000);
    const gapMs = Math.round(performance.now() - tKill);
    console.log(`ap-south and us-east quorum buckets written ${gapMs} ms after killing eu-west`);
    // eu-west's buckets have no replica left.
    await expect(regionKv.get("leader")).rejects.toThrow();
    await expect(quorumKv["eu-west"]!.get("global.leader")).rejects.toThrow();
    // 2 of 3 servers are a meta majority: a bucket can still be created (after a meta election if eu-west-1 led the meta group).
    const tCreate = performance.now();
    await waitFor(async () => (await kvm(us).create("regent-probe", { history: 1, replicas: 1, placement: { cluster: "us-east", tags: [] } })) !== undefined || undefined, {
      timeoutMs: 20_000,
      intervalMs: 200,
      what: "a bucket created with eu-west down",
    });
    console.log(`bucket created with eu-west down after ${Math.round(performance.now() - tCreate)} ms`);

    const tRestart = performance.now();
    await sc.restartRegion("eu-west");
    console.log(`eu-west back in ${Math.round(performance.now() - tRestart)} ms`);
    expect(sc.regions["eu-west"]?.servers.every((s) => s.running)).toBe(true);
    // File storage survives SIGKILL: the values written before the kill are back, readable from us-east.
    const back = await waitFor(async () => (await regionKv.get("leader"))?.string(), { timeoutMs: 20_000, intervalMs: 200, what: "eu-west bucket readable" });
    expect(back).toBe("b");
    expect((await quorumKv["eu-west"]!.get("global.leader"))?.string()).toBe("b");
    await casEventually(regionKv, "leader", "after-restart", 10_000);
    await casEventually(quorumKv["eu-west"]!, "global.leader", "after-restart", 10_000);
    expect((await quorumKv["us-east"]!.get("global.leader"))?.string()).toBe("written-while-eu-west-down");

    // Single-server controls and bad names.
    await sc.kill("us-east-1", "SIGKILL");
    expect(sc.regions["us-east"]?.servers[0]?.running).toBe(false);
    await sc.restart("us-east-1");
    expect(sc.regions["us-east"]?.servers[0]?.running).toBe(true);
    expect(() => sc.allUrls("mars")).toThrow(/unknown region "mars"/);
    await expect(sc.kill("mars-1")).rejects.toThrow(/no server called "mars-1"/);
    await expect(sc.killRegion("mars")).rejects.toThrow(/unknown region "mars"/);

    // stop(): no process, no temporary directory left.
    const allPids = sc.all.servers.map((s) => s.pid!);
    const storeDirs = sc.all.servers.map((s) => s.storeDir);
    await sc.stop();
    expect(allPids.some(pidAlive)).toBe(false);
    expect(storeDirs.some(existsSync)).toBe(false);
  }, 90_000);
});

describe("superclusterPlan", () => {
  it("full mode runs each region's servers from its file, tagged, and no cluster stretched across regions", () => {
    const plan = superclusterPlan(topology, "full");
    expect(plan.map((c) => [c.cluster, c.servers.length])).toEqual([
      ["ap-south", 3],
      ["eu-west", 3],
      ["us-east", 3],
    ]);
    expect(plan[1]?.servers.map((s) => [s.name, s.region, s.tags])).toEqual([
      ["eu-west-1", "eu-west", ["srv:eu-west-1", "region:eu-west"]],
      ["eu-west-2", "eu-west", ["srv:eu-west-2", "region:eu-west"]],
      ["eu-west-3", "eu-west", ["srv:eu-west-3", "region:eu-west"]],
    ]);
    expect(superclusterPlan(topology, "light").map((c) => c.servers.map((s) => s.name))).toEqual([["ap-south-1"], ["eu-west-1"], ["us-east-1"]]);
  });
});

describe("startSupercluster, full mode", () => {
  it("starts 3 servers per region, pins each quorum bucket to <region>-1, and serves a bucket placed in a 3-server region", async () => {
    const t0 = performance.now();
    const sc = await startSupercluster(topology, { mode: "full" });
    clusters.push(sc);
    console.log(`full supercluster (${sc.all.servers.length} servers) ready in ${Math.round(performance.now() - t0)} ms`);
    expect(sc.all.servers).toHaveLength(9);
    expect(sc.urls).toHaveLength(9);
    expect(sc.allUrls("eu-west")).toHaveLength(3);

    const ap = await client(sc, "ap-south");
    await kvm(ap).create(regionBucket("eu-west"), { history: 1, replicas: 3, placement: { cluster: "eu-west", tags: [] } });
    expect(await streamLeader(sc.all, `KV_${regionBucket("eu-west")}`)).toMatch(/^eu-west-\d$/);
    await casRoundTrip(await kvm(ap).open(regionBucket("eu-west")), "leader");

    // With three servers to choose from, the tag decides: every quorum bucket on <region>-1 ...
    for (const r of REGIONS) {
      await kvm(ap).create(quorumBucket(r), quorumPlacement(r));
      expect(await streamLeader(sc.all, `KV_${quorumBucket(r)}`)).toBe(`${r}-1`);
      await casRoundTrip(await kvm(ap).open(quorumBucket(r)), "global.leader");
    }
    // ... another server's tag puts a bucket there (so <region>-1 above is not a default) ...
    await kvm(ap).create("regent-probe", { history: 1, replicas: 1, placement: { cluster: "eu-west", tags: [serverTag(serverName("eu-west", 3))] } });
    expect(await streamLeader(sc.all, "KV_regent-probe")).toBe("eu-west-3");
    // ... and a tag no server of the cluster carries is refused, not ignored.
    await expect(kvm(ap).create("regent-nowhere", { history: 1, replicas: 1, placement: { cluster: "us-east", tags: [serverTag(serverName("eu-west", 1))] } })).rejects.toThrow(/insufficient resources|no suitable peers/i);
  }, 90_000);
});
