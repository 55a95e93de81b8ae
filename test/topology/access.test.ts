/**
 * The permissions of each identity, as generated from regions/ (their
 * effect on a real server is test/launcher/security.test.ts). These pin the
 * rules docs/security.md states, so a change to them is deliberate.
 */
import { describe, expect, it } from "vitest";
import { identitiesOf, nkeyVariable, checkIdentities, permissionsOf, serverAccessConf, type Identity } from "../../src/topology/access.js";
import { loadTopology } from "../../src/topology/load.js";
import { natsAuthFromEnv, natsAuthOptions, redactUrl } from "../../src/util/nats-auth.js";

const topology = loadTopology();
const ids = identitiesOf(topology);
const byName = (n: string) => ids.find((i) => i.name === n)!;
const allow = (id: Identity) => permissionsOf(topology, id).publish.allow;

describe("permissions derived from the topology", () => {
  it("one node identity per region, one operator, one observer", () => {
    expect(ids.map((i) => i.name)).toEqual([...topology.regions.map((r) => `node-${r.name}`), "operator", "observer"]);
  });

  it("a node writes its own region's lease key and, on every region's quorum bucket, the global and scope keys; never another region's lease key", () => {
    const quorumKeys = topology.regions.flatMap((q) => [`$KV.regent-quorum-${q.name}.global.leader`, `$KV.regent-quorum-${q.name}.scope.*`]);
    for (const r of topology.regions) {
      const a = allow(byName(`node-${r.name}`));
      const kv = a.filter((x) => x.startsWith("$KV."));
      expect(kv).toEqual([`$KV.regent-region-${r.name}.leader`, ...quorumKeys]);
      expect(a.some((x) => x.includes("regent-global"))).toBe(false);
    }
  });

  it("full mode: a node of a region of three servers writes and creates its regional key on each of its per-server buckets, and nothing of the single bucket", () => {
    for (const r of topology.regions) {
      const a = permissionsOf(topology, byName(`node-${r.name}`), "full").publish.allow;
      const own = r.servers > 1 ? Array.from({ length: r.servers }, (_, i) => `regent-region-${r.name}-${i + 1}`) : [`regent-region-${r.name}`];
      expect(a.filter((x) => x.startsWith("$KV.") && !x.includes("regent-quorum-"))).toEqual(own.map((b) => `$KV.${b}.leader`));
      expect(a.filter((x) => x.includes("STREAM.CREATE") && x.includes("KV_regent-region-"))).toEqual(own.map((b) => `$JS.API.STREAM.CREATE.KV_${b}`));
      // Every region's regional buckets are readable.
      for (const q of topology.regions) for (let n = 1; n <= q.servers; n++) expect(a).toContain(`$JS.API.STREAM.INFO.KV_regent-region-${q.name}-${n}`);
    }
    // The shipped regions all have three servers: light mode keeps the single bucket.
    expect(topology.regions.every((r) => r.servers === 3)).toBe(true);
    expect(permissionsOf(topology, byName("node-eu-west")).publish.allow.some((x) => x.includes("regent-region-eu-west-1"))).toBe(false);
  });

  it("a node appends events only in its own region's capture subtree, only its own region's leader, global and scope events", () => {
    for (const r of topology.regions) {
      const a = allow(byName(`node-${r.name}`));
      // Its events stream republishes regent-log.demo.<r>.X onto regent.demo.X.
      expect(a.filter((x) => x.startsWith("regent-log."))).toEqual([`regent-log.demo.${r.name}.region.${r.name}.leader`, `regent-log.demo.${r.name}.global.leader`, `regent-log.demo.${r.name}.scope.*`]);
      expect(a.filter((x) => x.startsWith("regent.demo."))).toEqual([]);
    }
  });

  it("a node creates only its own region's buckets and events stream, and reads every region's", () => {
    for (const r of topology.regions) {
      const a = allow(byName(`node-${r.name}`));
      expect(a.filter((x) => x.includes("STREAM.CREATE"))).toEqual([`$JS.API.STREAM.CREATE.KV_regent-region-${r.name}`, `$JS.API.STREAM.CREATE.KV_regent-quorum-${r.name}`, `$JS.API.STREAM.CREATE.regent-log-demo-${r.name}`]);
      for (const q of topology.regions) {
        for (const stream of [`KV_regent-region-${q.name}`, `KV_regent-quorum-${q.name}`, `regent-log-demo-${q.name}`]) expect(a).toContain(`$JS.API.STREAM.INFO.${stream}`);
      }
    }
    // Observers read every region's events stream (and create nothing, below).
    const o = allow(byName("observer"));
    for (const q of topology.regions) expect(o).toContain(`$JS.API.CONSUMER.CREATE.regent-log-demo-${q.name}.>`);
  });

  it("only the operator may publish resign and move requests, delete, purge or update streams, or publish into inboxes", () => {
    for (const id of ids.filter((i) => i.role !== "operator")) {
      const a = allow(id);
      // The only `>` wildcards: consumer creation with a filter, and flow-control replies, of regent's own streams.
      const wild = a.filter((x) => x.endsWith(">"));
      expect(wild.every((x) => /^\$JS\.API\.CONSUMER\.CREATE\.(KV_regent-|regent-log-)[\w-]+\.>$|^\$JS\.FC\.(KV_regent-|regent-log-)[\w-]+\.>$/.test(x)), id.name).toBe(true);
      expect(a.some((x) => /resign|scope-authority|STREAM\.(DELETE|PURGE|UPDATE)|^_INBOX/.test(x)), id.name).toBe(false);
    }
    expect(allow(byName("operator"))).toEqual([">"]);
    // Nodes are denied the requests explicitly too, so a broader allow added later cannot open them.
    expect(permissionsOf(topology, byName("node-eu-west")).publish.deny).toEqual(["regent.demo.global.resign", "regent.demo.region.*.resign", "regent.demo.scope-authority.move"]);
  });

  it("an observer publishes only read requests; it cannot join the state queue group or hear requests", () => {
    const p = permissionsOf(topology, byName("observer"));
    expect(p.publish.allow.filter((x) => !x.startsWith("$JS.API.") && !x.startsWith("$JS.FC."))).toEqual(["regent.demo.state"]);
    expect(p.publish.allow.filter((x) => /STREAM\.CREATE|\$KV/.test(x))).toEqual([]);
    expect(p.subscribe.deny).toEqual(["regent.demo.state", "regent.demo.global.resign", "regent.demo.region.*.resign", "regent.demo.scope-authority.move"]);
    expect(p.allow_responses).toBeUndefined();
  });

  it("rendered configs have no anonymous access and need the server certificate on routes and gateways", () => {
    const conf = serverAccessConf(topology, { tls: { ca: "ca", cert: "c", key: "k" }, nkey: (id) => `$${nkeyVariable(id)}` });
    const text = [...conf.top, ...conf.cluster, ...conf.gateway].join("\n");
    expect(text).not.toMatch(/no_auth_user|password/);
    expect(conf.cluster.join("\n")).toMatch(/verify_and_map: true[\s\S]*authorization \{ user: "CN=regent-nats-server" \}/);
    expect(conf.gateway).toEqual(conf.cluster);
    expect(() => checkIdentities([{ name: "node-a-b", role: "node", region: "a-b" }, { name: "node-a_b", role: "node", region: "a_b" }])).toThrow(/share the config variable/);
  });
});

describe("client credentials", () => {
  it("reads the nats CLI's environment variables", () => {
    expect(natsAuthFromEnv({ NATS_NKEY: "/k.nk", NATS_CA: "/ca.pem", NATS_USER: "", NATS_PASSWORD: "p" })).toEqual({ nkey: "/k.nk", tlsCa: "/ca.pem", password: "p" });
  });

  it("a password needs a user; TLS files map to the client's options", () => {
    expect(() => natsAuthOptions({ password: "p" })).toThrow(/needs --user/);
    expect(natsAuthOptions({ user: "u", password: "p", tlsCa: "/ca.pem" })).toEqual({ user: "u", pass: "p", tls: { caFile: "/ca.pem" } });
  });

  it("redacts passwords and tokens in URLs", () => {
    expect(redactUrl("nats://u:secret@h:4222")).toBe("nats://u:***@h:4222");
    expect(redactUrl("tls://token@h:4222")).toBe("tls://***@h:4222");
    expect(redactUrl("nats://h:4222")).toBe("nats://h:4222");
  });
});
