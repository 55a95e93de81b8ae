import { existsSync, readFileSync } from "node:fs";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { pidAlive, streamLeader, waitFor, waitForStreamLeader } from "../../src/launcher/nats-launcher.js";
import { GLOBAL_BUCKET, GLOBAL_CLUSTER, regionBucketName, startSupercluster, superclusterPlan, type Supercluster } from "../../src/launcher/supercluster.js";
import { loadTopology } from "../../src/topology/load.js";

const topology = loadTopology();
const GLOBAL_STREAM = `KV_${GLOBAL_BUCKET}`;

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
  it("places buckets by cluster, serves CAS across gateways, and survives losing a region", async () => {
    const t0 = performance.now();
    const sc = await startSupercluster(topology, { mode: "light" });
    clusters.push(sc);
    const startMs = Math.round(performance.now() - t0);
    console.log(`light supercluster (${sc.all.servers.length} servers) ready in ${startMs} ms`);

    expect(Object.keys(sc.regions)).toEqual(["ap-south", "eu-west", "us-east"]);
    expect(sc.regions["eu-west"]?.servers.map((s) => s.name)).toEqual(["eu-west-1"]);
    expect(sc.global.servers.map((s) => s.name)).toEqual(["global-ap-south", "global-eu-west", "global-us-east"]);
    expect(sc.allUrls("eu-west")).toEqual(sc.regions["eu-west"]?.urls);
    const ports = sc.all.servers.flatMap((s) => [s.port, s.clusterPort, s.monitorPort]);
    expect(new Set(ports).size).toBe(ports.length);
    for (const s of sc.all.servers) expect(readFileSync(s.logFile, "utf8")).toContain("Server is ready");

    // Buckets created from eu-west: one in eu-west's own cluster, one in `global`.
    const eu = await client(sc, "eu-west");
    expect(eu.info?.cluster).toBe("eu-west");
    const regionBucket = regionBucketName("eu-west");
    await kvm(eu).create(regionBucket, { history: 1, replicas: 1, placement: { cluster: "eu-west", tags: [] } });
    await kvm(eu).create(GLOBAL_BUCKET, { history: 1, replicas: 3, placement: { cluster: GLOBAL_CLUSTER, tags: [] } });
    expect(await streamLeader(sc.all, `KV_${regionBucket}`)).toBe("eu-west-1");
    expect(await streamLeader(sc.all, GLOBAL_STREAM)).toMatch(/^global-/);

    // CAS on both from us-east, through the gateways.
    const us = await client(sc, "us-east");
    expect(us.info?.cluster).toBe("us-east");
    const regionKv = await kvm(us).open(regionBucket);
    const globalKv = await kvm(us).open(GLOBAL_BUCKET);
    await casRoundTrip(regionKv, "leader");
    await casRoundTrip(globalKv, "leader");

    // Worst case for the global tier: its stream leader dies with the region.
    // Step the leader down until it sits in eu-west (random pick, so a few tries).
    for (let i = 0; i < 8 && (await streamLeader(sc.all, GLOBAL_STREAM)) !== "global-eu-west"; i++) {
      const before = await waitForStreamLeader(sc.all, GLOBAL_STREAM, { timeoutMs: 15_000 });
      await us.request(`$JS.API.STREAM.LEADER.STEPDOWN.${GLOBAL_STREAM}`, undefined, { timeout: 2_000 }).catch(() => undefined);
      await waitForStreamLeader(sc.all, GLOBAL_STREAM, { notIn: [before], timeoutMs: 15_000 });
    }
    const leaderAtKill = await streamLeader(sc.all, GLOBAL_STREAM);

    const doomed = sc.all.servers.filter((s) => s.name === "eu-west-1" || s.name === "global-eu-west");
    const pids = doomed.map((s) => s.pid!);
    const tKill = performance.now();
    await sc.killRegion("eu-west");
    expect(doomed.every((s) => !s.running)).toBe(true);
    expect(pids.some(pidAlive)).toBe(false);

    // The global bucket keeps quorum (2 of 3) and is writable from us-east once a new stream leader is elected.
    await casEventually(globalKv, "leader", "written-while-eu-west-down", 20_000);
    const gapMs = Math.round(performance.now() - tKill);
    console.log(`global bucket writable again ${gapMs} ms after killing eu-west (stream leader at kill: ${leaderAtKill})`);
    // The eu-west bucket has no replica left.
    await expect(regionKv.get("leader")).rejects.toThrow();

    const tRestart = performance.now();
    await sc.restartRegion("eu-west");
    console.log(`eu-west back in ${Math.round(performance.now() - tRestart)} ms`);
    expect(sc.regions["eu-west"]?.servers.every((s) => s.running)).toBe(true);
    // File storage survives SIGKILL: the value written before the kill is back, readable from us-east.
    const back = await waitFor(async () => (await regionKv.get("leader"))?.string(), { timeoutMs: 20_000, intervalMs: 200, what: "eu-west bucket readable" });
    expect(back).toBe("b");
    await casEventually(regionKv, "leader", "after-restart", 10_000);
    expect((await globalKv.get("leader"))?.string()).toBe("written-while-eu-west-down");

    // Single-server controls and bad names.
    await sc.kill("us-east-1", "SIGKILL");
    expect(sc.regions["us-east"]?.servers[0]?.running).toBe(false);
    await sc.restart("us-east-1");
    expect(sc.regions["us-east"]?.servers[0]?.running).toBe(true);
    expect(() => sc.allUrls("mars")).toThrow(/unknown region "mars"/);
    await expect(sc.kill("mars-1")).rejects.toThrow(/no server called "mars-1"/);

    // stop(): no process, no temporary directory left.
    const allPids = sc.all.servers.map((s) => s.pid!);
    const storeDirs = sc.all.servers.map((s) => s.storeDir);
    await sc.stop();
    expect(allPids.some(pidAlive)).toBe(false);
    expect(storeDirs.some(existsSync)).toBe(false);
  }, 60_000);
});

describe("superclusterPlan", () => {
  it("full mode runs each region's servers from its file, plus one global server per region", () => {
    const plan = superclusterPlan(topology, "full");
    expect(plan.map((c) => [c.cluster, c.servers.length])).toEqual([
      ["ap-south", 3],
      ["eu-west", 3],
      ["us-east", 3],
      ["global", 3],
    ]);
    expect(plan[1]?.servers.map((s) => s.name)).toEqual(["eu-west-1", "eu-west-2", "eu-west-3"]);
    expect(plan[3]?.servers.map((s) => [s.name, s.region])).toEqual([
      ["global-ap-south", "ap-south"],
      ["global-eu-west", "eu-west"],
      ["global-us-east", "us-east"],
    ]);
  });
});

describe("startSupercluster, full mode", () => {
  it("starts 9 region servers + 3 global ones and serves a bucket placed in a 3-server region", async () => {
    const t0 = performance.now();
    const sc = await startSupercluster(topology, { mode: "full" });
    clusters.push(sc);
    console.log(`full supercluster (${sc.all.servers.length} servers) ready in ${Math.round(performance.now() - t0)} ms`);
    expect(sc.all.servers).toHaveLength(12);
    expect(sc.allUrls("eu-west")).toHaveLength(3);

    const ap = await client(sc, "ap-south");
    await kvm(ap).create(regionBucketName("eu-west"), { history: 1, replicas: 3, placement: { cluster: "eu-west", tags: [] } });
    expect(await streamLeader(sc.all, `KV_${regionBucketName("eu-west")}`)).toMatch(/^eu-west-\d$/);
    await casRoundTrip(await kvm(ap).open(regionBucketName("eu-west")), "leader");
  }, 60_000);
});
