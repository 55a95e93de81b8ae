/**
 * A secured supercluster (what `regent up` starts by default) refuses what
 * docs/security.md says it refuses, each asserted as a specific denial by
 * the real nats-server 2.9: unauthenticated and CA-less clients, writes to
 * another region's lease key, resign and move requests from anyone but the
 * operator, publishes by an observer, stream deletion by a node, and route
 * and gateway peers without the deployment's server certificate.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, errors, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDeployment, regionBucket, GLOBAL_BUCKET } from "../../src/hierarchy/deployment.js";
import { eventsStreamName, ensureEventsStream } from "../../src/hierarchy/events-stream.js";
import { waitFor } from "../../src/launcher/nats-launcher.js";
import { RegentProcess, waitUntil } from "../../src/launcher/candidates.js";
import { requestState } from "../../src/cli/observe-cmds.js";
import { decodeEvent } from "../../src/wire/events.js";
import { packPlain, unpackPlain } from "../../src/wire/msgpack.js";
import { ensureSecrets, type Secrets } from "../../src/launcher/secrets.js";
import { startSupercluster, type Supercluster } from "../../src/launcher/supercluster.js";
import { NatsLeaseStore } from "../../src/lease/nats-store.js";
import { identitiesOf } from "../../src/topology/access.js";
import { loadTopology } from "../../src/topology/load.js";
import { natsAuthOptions } from "../../src/util/nats-auth.js";
import { subjects } from "../../src/wire/subjects.js";

const run = promisify(execFile);
const topology = loadTopology();
const s = subjects(topology.cluster);
const [A, B] = topology.regions.map((r) => r.name) as [string, string];

let dir: string;
let secrets: Secrets;
let sc: Supercluster;
const conns: NatsConnection[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "regent-security-"));
  secrets = await ensureSecrets(dir, { identities: identitiesOf(topology), hostnames: [] });
  sc = await startSupercluster(topology, { mode: "light", secrets });
  // The buckets and the events stream exist, made by the operator (nodes could too: STREAM.CREATE of their own).
  const op = await as("operator");
  await openDeployment(op, { cluster: topology.cluster, regions: topology.regions.map((r) => ({ name: r.name, replicas: 1 })), globalReplicas: 3 }, { signal: AbortSignal.timeout(30_000) });
  await ensureEventsStream(op, topology.cluster, 3, { timeoutMs: 10_000 });
});

afterAll(async () => {
  await Promise.all(conns.splice(0).map((c) => c.close().catch(() => undefined)));
  await sc?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A client of `identity` (a generated nkey) trusting the deployment's CA. */
async function as(identity: string, servers = sc.global.urls): Promise<NatsConnection> {
  const nc = await connect({ servers, timeout: 5_000, ...natsAuthOptions({ nkey: secrets.seedFile(identity), tlsCa: secrets.client.ca }) });
  conns.push(nc);
  return nc;
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
  it("nodes run within their permissions: leaders elected, scopes granted, the operator's move and resign served, no violation logged", async () => {
    const logSize = new Map(sc.all.servers.map((m) => [m.logFile, readFileSync(m.logFile, "utf8").length]));
    const nodes = topology.regions.map(
      (r) =>
        new RegentProcess(`${r.name}-1`, [
          "node", "--json", "--region", r.name, "--id", `${r.name}-1`, "--servers", sc.allUrls(r.name).join(","),
          "--nkey", secrets.seedFile(`node-${r.name}`), "--tls-ca", secrets.client.ca,
        ]),
    );
    try {
      await waitUntil(nodes, () => nodes.every((n) => n.leadingIn("region")) && nodes.some((n) => n.leadingIn("global")), 60_000, "every leader elected");
      const op = await as("operator");
      // The authority answers a move once it has seen the target region renew; until then it may refuse.
      const moved = await waitFor(
        async () => {
          const r = unpackPlain((await op.request(s.scopeMove, packPlain({ v: 1, kind: "move", scope: A, to: B, reason: "manual" }), { timeout: 10_000 })).data) as { ok: boolean; region?: string };
          return r.ok ? r : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500, what: `scope ${A} to move to ${B}` },
      );
      expect(moved.region).toBe(B);
      const resigned = decodeEvent((await op.request(s.regionResign(B), new Uint8Array(), { timeout: 10_000 })).data);
      expect(resigned.kind).toBe("deposed");
      const obs = await as("observer");
      const state = await waitFor(() => requestState(obs, topology.cluster, 3_000), { timeoutMs: 20_000, what: "a state answer" });
      expect(state.scopes[A]?.region).toBe(B);
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
    }
    const violations = sc.all.servers.flatMap((m) => readFileSync(m.logFile, "utf8").slice(logSize.get(m.logFile)).split("\n").filter((l) => /Violation/.test(l)));
    expect(violations).toEqual([]);
  }, 120_000);

  it("refuses a client without credentials, even one that trusts the CA", async () => {
    await expect(connect({ servers: sc.global.urls, timeout: 5_000, tls: { caFile: secrets.client.ca } })).rejects.toThrow(/Authorization Violation/);
    await expect(connect({ servers: sc.allUrls(A), timeout: 5_000, tls: { caFile: secrets.client.ca } })).rejects.toThrow(/Authorization Violation/);
  });

  it("TLS: a client without the CA cannot connect (even with valid credentials); with it, it can", async () => {
    const nkeyOnly = natsAuthOptions({ nkey: secrets.seedFile("observer") });
    await expect(connect({ servers: sc.global.urls, timeout: 5_000, ...nkeyOnly })).rejects.toThrow(/certificate/);
    const nc = await as("observer");
    expect(nc.info?.tls_required).toBe(true);
    await nc.flush();
  });

  it(`region ${A}'s node identity cannot write region ${B}'s lease key, and can write its own`, async () => {
    const nc = await as(`node-${A}`, sc.allUrls(A));
    const seen = violations(nc);
    const theirs = await NatsLeaseStore.open(nc, { bucket: regionBucket(B), create: false, timeoutMs: 1_500 });
    // Reading is allowed (a global leader checks other regions' leaders); the key was left by the first test's nodes.
    const before = await theirs.get("leader");
    const forged = new Uint8Array([1]);
    await expect(before ? theirs.update("leader", forged, before.revision) : theirs.create("leader", forged)).rejects.toThrow();
    expect(seen).toContain(`publish $KV.${regionBucket(B)}.leader`);
    const op = await as("operator");
    expect((await (await NatsLeaseStore.open(op, { bucket: regionBucket(B), create: false })).get("leader"))?.revision).toBe(before?.revision);

    const mine = await NatsLeaseStore.open(nc, { bucket: regionBucket(A), create: false });
    const cur = await mine.get("leader"); // left released by the nodes of the first test
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
    for (const subject of [s.regionLeader(A), s.globalLeader, s.scope(A), `$KV.${GLOBAL_BUCKET}.global.leader`, `$KV.${regionBucket(A)}.leader`, s.regionResign(A), s.scopeMove]) {
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
    for (const stream of [`KV_${GLOBAL_BUCKET}`, `KV_${regionBucket(A)}`, eventsStreamName(topology.cluster)]) {
      await expect(jsm.streams.delete(stream)).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.streams.purge(stream)).rejects.toThrow(/Permissions Violation/);
      const info = await jsm.streams.info(stream); // reading is allowed
      await expect(jsm.streams.update(stream, { ...info.config, description: "mine" })).rejects.toThrow(/Permissions Violation/);
    }
    const op = await jetstreamManager(await as("operator"));
    expect((await op.streams.info(`KV_${GLOBAL_BUCKET}`)).config.description ?? "").not.toBe("mine");
  });

  it("routes and gateways refuse a peer without the deployment's server certificate, or with another certificate of its CA", async () => {
    const member = sc.global.servers[0]!;
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
