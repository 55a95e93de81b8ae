/**
 * A secured supercluster (what `regent up` starts by default) refuses what
 * docs/security.md says it refuses, each asserted as a specific denial by
 * the real nats-server 2.9: unauthenticated and CA-less clients, writes to
 * another region's lease key, creating another region's buckets or events
 * stream, appending events outside its own region's capture subjects,
 * resign and move requests from anyone but the operator, publishes by an
 * observer, stream deletion by a node, and route and gateway peers without
 * the deployment's server certificate. And it allows what a node does
 * (issue 11's layout), with no violation logged: driven here with the
 * clients a node uses, not `regent node`, so it checks the permissions
 * whatever the node code does with them.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect, errors, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverName, serverTag } from "../../src/hierarchy/store-layout.js";
import { waitFor } from "../../src/launcher/nats-launcher.js";
import { ensureSecrets, type Secrets } from "../../src/launcher/secrets.js";
import { startSupercluster, type Supercluster } from "../../src/launcher/supercluster.js";
import { NatsLeaseStore } from "../../src/lease/nats-store.js";
import { identitiesOf } from "../../src/topology/access.js";
import { loadTopology } from "../../src/topology/load.js";
import { natsAuthOptions } from "../../src/util/nats-auth.js";
import { subjects } from "../../src/wire/subjects.js";
import { quorumBucket, regionBucket, regionEventsStreamName } from "../../src/wire/names.js";

const run = promisify(execFile);
const topology = loadTopology();
const s = subjects(topology.cluster);
const [A, B] = topology.regions.map((r) => r.name) as [string, string];

let dir: string;
let secrets: Secrets;
let sc: Supercluster;
const conns: NatsConnection[] = [];

/** The capture subject of live subject `live` in `region`'s own subtree: its events stream republishes it onto `live`. */
const captured = (region: string, live: string) => `${s.capture.region(region).slice(0, -1)}${live.slice(s.root.length + 1)}`;

/** What a node of `region` creates when missing: its regional bucket, its quorum bucket (pinned to `<region>-1`), its events stream. */
async function createOwn(nc: NatsConnection, region: string): Promise<{ regional: NatsLeaseStore; quorum: NatsLeaseStore }> {
  const regional = await NatsLeaseStore.open(nc, { bucket: regionBucket(region), replicas: 1, placement: { cluster: region }, signal: AbortSignal.timeout(20_000) });
  const quorum = await NatsLeaseStore.open(nc, { bucket: quorumBucket(region), replicas: 1, placement: { cluster: region, tags: [serverTag(serverName(region, 1))] }, signal: AbortSignal.timeout(20_000) });
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  const capture = s.capture.region(region);
  await jsm.streams
    .add({
      name: regionEventsStreamName(topology.cluster, region),
      subjects: [capture],
      republish: { src: capture, dest: s.all },
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      num_replicas: 1,
      max_msgs_per_subject: 10_000,
      duplicate_window: 120 * 1e9,
      placement: { cluster: region, tags: [] },
    })
    .catch((err: Error) => {
      // Created by an earlier call with the same config.
      if (!/already in use|exists/i.test(err.message)) throw err;
    });
  return { regional, quorum };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "regent-security-"));
  secrets = await ensureSecrets(dir, { identities: identitiesOf(topology), hostnames: [] });
  sc = await startSupercluster(topology, { mode: "light", secrets });
  // Every region's buckets and events stream, each made by that region's own node identity.
  for (const r of topology.regions) await createOwn(await as(`node-${r.name}`, sc.allUrls(r.name)), r.name);
}, 60_000);

afterAll(async () => {
  await Promise.all(conns.splice(0).map((c) => c.close().catch(() => undefined)));
  await sc?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A client of `identity` (a generated nkey) trusting the deployment's CA. */
async function as(identity: string, servers = sc.urls): Promise<NatsConnection> {
  const nc = await connect({ servers, timeout: 5_000, ...natsAuthOptions({ nkey: secrets.seedFile(identity), tlsCa: secrets.client.ca }) });
  conns.push(nc);
  return nc;
}

/** Writes `value` to `key` by CAS whatever is there. */
async function cas(store: NatsLeaseStore, key: string, value: Uint8Array): Promise<number> {
  const cur = await store.get(key);
  return cur ? store.update(key, value, cur.revision) : store.create(key, value);
}

/** Permission violations the server reports to `nc`, as `publish <subject>` / `subscription <subject>`. */
function violations(nc: NatsConnection): string[] {
  const seen: string[] = [];
  void (async () => {
    for await (const st of nc.status()) {
      if (st.type === "error" && st.error instanceof errors.PermissionViolationError) seen.push(`${st.error.operation} ${st.error.subject}`);
    }
  })();
  return seen;
}

/** Publishes on `subject` and waits for the server to report the publish as a permission violation. */
async function publishDenied(nc: NatsConnection, seen: string[], subject: string): Promise<boolean> {
  nc.publish(subject, new Uint8Array([1]));
  await waitFor(() => seen.includes(`publish ${subject}`), { timeoutMs: 10_000, what: `a violation for ${subject}` });
  return true;
}

describe("a secured supercluster", () => {
  it("a node identity does everything a node does, on every region's quorum bucket, with no violation logged", async () => {
    const logSize = new Map(sc.all.servers.map((m) => [m.logFile, readFileSync(m.logFile, "utf8").length]));
    const obs = await as("observer");
    const live: string[] = [];
    obs.subscribe(s.all, { callback: (_e, m) => void live.push(m.subject) });
    await obs.flush();
    const op = await as("operator");
    for (const r of topology.regions) {
      const nc = await as(`node-${r.name}`, sc.allUrls(r.name));
      const seen = violations(nc);
      // Open (creating when missing: they exist, so the same config is a no-op) its own region's streams.
      const own = await createOwn(nc, r.name);
      await cas(own.regional, "leader", new Uint8Array([1]));
      // A quorum lease reads, watches and CAS-writes the global key and a scope key on every region's store, through the gateways.
      for (const q of topology.regions) {
        const store = await NatsLeaseStore.open(nc, { bucket: quorumBucket(q.name), create: false, timeoutMs: 5_000 });
        const ac = new AbortController();
        const watched = (async () => {
          for await (const e of store.watch("global.leader", { signal: ac.signal })) if (e.key === "global.leader") return e.key;
          return undefined;
        })();
        await cas(store, "global.leader", new Uint8Array([2]));
        await cas(store, `scope.${r.name}`, new Uint8Array([3]));
        expect(await watched).toBe("global.leader");
        ac.abort();
        expect(await store.keys("scope.*")).toContain(`scope.${r.name}`);
      }
      // Events: appended in its own capture subtree, acked by its own events stream, republished live.
      const js = jetstream(nc, { timeout: 10_000 });
      for (const subject of [s.regionLeader(r.name), s.globalLeader, s.scope(r.name)]) {
        const ack = await js.publish(captured(r.name, subject), new Uint8Array([4]), { msgID: `${r.name}-${subject}` });
        expect(ack.stream).toBe(regionEventsStreamName(topology.cluster, r.name));
        await waitFor(() => live.includes(subject), { timeoutMs: 10_000, what: `${subject} republished live` });
        live.splice(live.indexOf(subject), 1);
      }
      // Requests: it hears state, its own region's resign, global resign and moves, and answers them.
      for (const subject of [s.state, s.regionResign(r.name), s.globalResign, s.scopeMove]) {
        const sub = nc.subscribe(subject, { max: 1, callback: (_e, m) => void m.respond(new Uint8Array([5])) });
        await nc.flush();
        // Interest crosses the gateway shortly after the subscription: until then, "no responders".
        const answer = await waitFor(() => op.request(subject, new Uint8Array(), { timeout: 2_000 }), { timeoutMs: 20_000, what: `an answer on ${subject}` });
        expect([...answer.data], subject).toEqual([5]);
        sub.unsubscribe();
      }
      // The observer reads every region's events stream.
      const obsJsm = await jetstreamManager(obs, { timeout: 10_000 });
      expect((await obsJsm.streams.info(regionEventsStreamName(topology.cluster, r.name))).state.messages).toBeGreaterThanOrEqual(3);
      expect(seen, r.name).toEqual([]);
    }
    const logged = sc.all.servers.flatMap((m) => readFileSync(m.logFile, "utf8").slice(logSize.get(m.logFile)).split("\n").filter((l) => /Violation/.test(l)));
    expect(logged).toEqual([]);
    expect(live.filter((x) => x.includes(".region.") || x.includes(".global.") || x.includes(".scope."))).toEqual([]);
  }, 120_000);

  it(`region ${A}'s node identity cannot create region ${B}'s buckets or events stream, nor append events outside its own capture subjects`, async () => {
    const nc = await as(`node-${A}`, sc.allUrls(A));
    const seen = violations(nc);
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    for (const stream of [`KV_${regionBucket(B)}`, `KV_${quorumBucket(B)}`, regionEventsStreamName(topology.cluster, B)]) {
      // Denied before the server looks at the config: an existing name is no loophole.
      await expect(jsm.streams.add({ name: stream, subjects: [`nowhere.${stream}`] })).rejects.toThrow(/Permissions Violation/);
    }
    for (const subject of [
      captured(B, s.regionLeader(B)), // B's subtree
      captured(A, s.regionLeader(B)), // its own subtree, another region's event
      captured(A, s.globalResign), // its own subtree, a request subject
      captured(A, s.state),
      s.capture.of(s.regionLeader(A)), // the old shared capture subtree
      s.regionLeader(A), // the live subject
    ]) {
      expect(await publishDenied(nc, seen, subject), subject).toBe(true);
    }
    // Other keys of a quorum bucket than the global and scope keys.
    expect(await publishDenied(nc, seen, `$KV.${quorumBucket(B)}.leader`)).toBe(true);
    expect(await publishDenied(nc, seen, `$KV.${quorumBucket(A)}.other.key`)).toBe(true);
  });

  it("refuses a client without credentials, even one that trusts the CA", async () => {
    await expect(connect({ servers: sc.urls, timeout: 5_000, tls: { caFile: secrets.client.ca } })).rejects.toThrow(/Authorization Violation/);
    await expect(connect({ servers: sc.allUrls(A), timeout: 5_000, tls: { caFile: secrets.client.ca } })).rejects.toThrow(/Authorization Violation/);
  });

  it("TLS: a client without the CA cannot connect (even with valid credentials); with it, it can", async () => {
    const nkeyOnly = natsAuthOptions({ nkey: secrets.seedFile("observer") });
    await expect(connect({ servers: sc.urls, timeout: 5_000, ...nkeyOnly })).rejects.toThrow(/certificate/);
    const nc = await as("observer");
    expect(nc.info?.tls_required).toBe(true);
    await nc.flush();
  });

  it(`region ${A}'s node identity cannot write region ${B}'s lease key, and can write its own`, async () => {
    const nc = await as(`node-${A}`, sc.allUrls(A));
    const seen = violations(nc);
    const theirs = await NatsLeaseStore.open(nc, { bucket: regionBucket(B), create: false, timeoutMs: 1_500 });
    // Reading is allowed (a global leader checks other regions' leaders); the key was left by the first test.
    const before = await theirs.get("leader");
    const forged = new Uint8Array([1]);
    await expect(before ? theirs.update("leader", forged, before.revision) : theirs.create("leader", forged)).rejects.toThrow();
    expect(seen).toContain(`publish $KV.${regionBucket(B)}.leader`);
    const op = await as("operator");
    expect((await (await NatsLeaseStore.open(op, { bucket: regionBucket(B), create: false })).get("leader"))?.revision).toBe(before?.revision);

    const mine = await NatsLeaseStore.open(nc, { bucket: regionBucket(A), create: false });
    const cur = await mine.get("leader"); // left by the first test
    expect(cur ? await mine.update("leader", new Uint8Array([1]), cur.revision) : await mine.create("leader", new Uint8Array([1]))).toBeGreaterThan(0);
    expect(seen).toEqual([`publish $KV.${regionBucket(B)}.leader`]);
  });

  it("a node identity cannot send scope-authority.move or a resign request; the operator can", async () => {
    // A stand-in lease authority and leaders, so "no answer" cannot come from there being nobody.
    const responder = await as("operator");
    const heard: string[] = [];
    for (const subject of [s.scopeMove, s.globalResign, s.regionResign(B)]) {
      responder.subscribe(subject, { callback: (_e, m) => void (heard.push(m.subject), m.respond(new Uint8Array([1]))) });
    }
    await responder.flush();
    const node = await as(`node-${A}`, sc.allUrls(A));
    for (const subject of [s.scopeMove, s.globalResign, s.regionResign(B)]) {
      await expect(node.request(subject, new Uint8Array(), { timeout: 3_000 })).rejects.toThrow(new RegExp(`Permissions Violation for Publish to "${subject}"`));
    }
    expect(heard).toEqual([]);
    const op = await as("operator", sc.allUrls(B));
    await op.request(s.scopeMove, new Uint8Array(), { timeout: 5_000 });
    expect(heard).toEqual([s.scopeMove]);
  });

  it("an observer cannot publish events, lease writes or requests, nor join the state queue group; it can ask for state", async () => {
    const obs = await as("observer");
    const seen = violations(obs);
    for (const subject of [s.regionLeader(A), s.globalLeader, s.scope(A), captured(A, s.globalLeader), `$KV.${quorumBucket(A)}.global.leader`, `$KV.${regionBucket(A)}.leader`, s.regionResign(A), s.scopeMove]) {
      expect(await publishDenied(obs, seen, subject), subject).toBe(true);
    }
    obs.subscribe(s.state, { queue: "regent-state" });
    await obs.flush();
    await waitFor(() => seen.includes(`subscription ${s.state}`), { what: "the state subscription to be refused" });

    const node = await as(`node-${A}`, sc.allUrls(A));
    node.subscribe(s.state, { queue: "regent-state", callback: (_e, m) => void m.respond(new Uint8Array([7])) });
    await node.flush();
    // Queue interest crosses the gateway shortly after the subscription: until then, "no responders".
    const answer = await waitFor(() => obs.request(s.state, new Uint8Array(), { timeout: 2_000 }), { timeoutMs: 20_000, what: "a state answer" });
    expect([...answer.data]).toEqual([7]);
  });

  it("a node identity cannot delete, purge or edit a stream", async () => {
    const nc = await as(`node-${A}`, sc.allUrls(A));
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    for (const stream of [`KV_${quorumBucket(A)}`, `KV_${quorumBucket(B)}`, `KV_${regionBucket(A)}`, regionEventsStreamName(topology.cluster, A)]) {
      await expect(jsm.streams.delete(stream)).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.streams.purge(stream)).rejects.toThrow(/Permissions Violation/);
      const info = await jsm.streams.info(stream); // reading is allowed
      await expect(jsm.streams.update(stream, { ...info.config, description: "mine" })).rejects.toThrow(/Permissions Violation/);
    }
    const op = await jetstreamManager(await as("operator"));
    expect((await op.streams.info(`KV_${quorumBucket(B)}`)).config.description ?? "").not.toBe("mine");
  });

  it("routes and gateways refuse a peer without the deployment's server certificate, or with another certificate of its CA", async () => {
    const member = sc.regions[A]!.servers[0]!;
    // A certificate the deployment's CA signed, but not the servers' identity (as a client certificate would be).
    const ca = join(secrets.root, "ca");
    await run("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "intruder-key.pem", "-out", "intruder.csr", "-subj", "/CN=intruder"], { cwd: ca });
    await run("openssl", ["x509", "-req", "-in", "intruder.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-out", "intruder.pem", "-days", "1"], { cwd: ca });
    const intruder = { cert: readFileSync(join(ca, "intruder.pem")), key: readFileSync(join(ca, "intruder-key.pem")) };
    const log = () => readFileSync(member.logFile, "utf8");
    for (const [kind, port, closed] of [
      ["route", member.clusterPort!, "Router connection closed"],
      ["gateway", member.gatewayPort, "Gateway connection closed"],
    ] as const) {
      expect(await rawTlsPeer(port, secrets.client.ca), kind).toMatch(/error|closed/);
      await waitFor(() => log().includes(`TLS ${kind} handshake error: tls: client didn't provide a certificate`), { what: `${member.name} to log the refused ${kind}` });
      const before = log().split(`${closed}: Authentication Failure`).length;
      expect(await rawTlsPeer(port, secrets.client.ca, intruder), kind).toMatch(/error|closed/);
      await waitFor(() => log().split(`${closed}: Authentication Failure`).length > before, { what: `${member.name} to refuse the intruder's ${kind}` });
    }
  });
});

/**
 * Dials a route or gateway port as a peer would (TLS first on 2.9) with the
 * given client certificate, or none, and says CONNECT; resolves with how the
 * connection ended.
 */
function rawTlsPeer(port: number, ca: string, client?: { cert: Buffer; key: Buffer }): Promise<string> {
  return new Promise((resolve) => {
    const t = tlsConnect({ port, host: "127.0.0.1", ca: readFileSync(ca), servername: "localhost", ...client });
    t.once("secureConnect", () => t.write('CONNECT {"verbose":false,"tls_required":true}\r\nPING\r\n'));
    t.once("error", (e) => resolve(`error: ${e.message}`));
    t.once("close", () => resolve("closed"));
    t.on("data", () => undefined);
  });
}
