/**
 * Who may do what on NATS, derived from the topology: the identities of a
 * deployment, their permissions, and the nats-server configuration blocks
 * that enforce them (accounts with nkey users, TLS on client, route and
 * gateway ports). The launcher (`regent up`) and `regent compose` both render
 * their server configs from here, so a change of topology (buckets, subjects)
 * changes only the inputs below: {@link bucketsOf} and `wire/subjects.ts`.
 *
 * Why permissions, not signed requests, for resign and move: the server drops
 * a denied publish before any node sees it, so a node needs no key material,
 * no replay window and no clock to tell an operator from anyone else. The
 * cost is that the guarantee holds only where these permissions (or
 * stricter ones) are applied; docs/security.md says how.
 *
 * The measured needs on nats-server 2.9.10 (run with these permissions, no
 * "Permissions Violation" in any server log): see docs/security.md.
 */
import { regionalBuckets, regionalLayout, type ServerMode } from "../hierarchy/store-layout.js";
import { subjects } from "../wire/subjects.js";
import { ConfigError } from "../errors.js";
import type { Topology } from "./schema.js";
import { GLOBAL_KEY, kvStreamName, kvSubject, quorumBucket, REGIONAL_KEY, regionEventsStreamName, SCOPE_FILTER } from "../wire/names.js";

/** The one NATS account a deployment's clients live in (JetStream is per account). */
export const REGENT_ACCOUNT = "REGENT";
/**
 * Subject of the certificate that routes and gateways present and require
 * (`verify_and_map`): a peer without the deployment CA's server certificate
 * cannot route or gateway in, and a client certificate cannot be used to.
 */
export const SERVER_CERT_SUBJECT = "CN=regent-nats-server";

export type Role = "node" | "operator" | "observer";

/** One NATS identity (an nkey user). Nodes of one region share one. */
export interface Identity {
  /** `node-<region>`, `operator` or `observer`; also the seed file's base name. */
  name: string;
  role: Role;
  region?: string;
}

/** NATS user permissions, as nats-server's config spells them. */
export interface Permissions {
  publish: { allow: string[]; deny?: string[] };
  subscribe: { allow: string[]; deny?: string[] };
  /** A node answers requests it received (state, resign, move) without any publish right on inboxes. */
  allow_responses?: boolean;
}

export function identitiesOf(topology: Topology): Identity[] {
  return [
    ...topology.regions.map((r): Identity => ({ name: `node-${r.name}`, role: "node", region: r.name })),
    { name: "operator", role: "operator" },
    { name: "observer", role: "observer" },
  ];
}

/**
 * The streams of a deployment (issue 11): each region's lease bucket (in
 * full mode, one per server of a region with several: `regionalLayout`),
 * each region's quorum bucket (global and scope leases) and each region's
 * events stream. What nodes write, what they may create, what anyone may read.
 */
export function bucketsOf(topology: Topology, mode: ServerMode = "light") {
  const kvStream = kvStreamName;
  const regions = topology.regions.map((r) => r.name);
  const regional = new Map(topology.regions.map((r) => [r.name, regionalBuckets(r.name, regionalLayout(r, mode).stores)]));
  return {
    /** `region`'s regional lease buckets: its one bucket, or one per server (full mode). */
    regionalBuckets: (region: string) => regional.get(region) ?? [],
    quorumBucket: (region: string) => quorumBucket(region),
    /** Every lease stream: each region's regional bucket(s) and each region's quorum bucket. */
    leaseStreams: regions.flatMap((r) => [...regional.get(r)!.map(kvStream), kvStream(quorumBucket(r))]),
    kvStream,
    /** `region`'s own events stream. */
    events: (region: string) => regionEventsStreamName(topology.cluster, region),
    /** Every region's events stream. */
    eventStreams: regions.map((r) => regionEventsStreamName(topology.cluster, r)),
    regions,
  };
}

/** JetStream API subjects that only read a stream or follow it through an ephemeral consumer. */
function readApi(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    // 2.9 clients create ephemeral consumers with the filter in the subject; older ones without.
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.DELETE.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    // Flow-control replies of push consumers (KV watches). Nodes could answer
    // them through allow_responses; observers have no such right.
    `$JS.FC.${stream}.>`,
  ];
}

/**
 * Permissions of one identity. Nothing here grants `$JS.API.STREAM.DELETE`,
 * `UPDATE` or `PURGE` to anyone but the operator, nor a publish to `_INBOX.>`
 * (which would let a client forge another client's replies, PubAcks
 * included): nodes answer requests through `allow_responses` only.
 */
export function permissionsOf(topology: Topology, id: Identity, mode: ServerMode = "light"): Permissions {
  const s = subjects(topology.cluster);
  const b = bucketsOf(topology, mode);
  const everyStream = [...b.leaseStreams, ...b.eventStreams];
  // Request subjects only the operator may publish (docs/security.md).
  const requests = [s.globalResign, `${s.root}.region.*.resign`, s.scopeMove];
  if (id.role === "operator") return { publish: { allow: [">"] }, subscribe: { allow: [">"] } };
  if (id.role === "observer") {
    return {
      publish: { allow: ["$JS.API.INFO", s.state, ...everyStream.flatMap(readApi)] },
      // Everything of the deployment, except what would let it take requests
      // meant for nodes (joining the state queue group, hearing resigns).
      subscribe: { allow: ["_INBOX.>", s.all], deny: [s.state, ...requests] },
    };
  }
  const region = id.region;
  if (!region) throw new ConfigError("identity", `node identity ${id.name} has no region`);
  // Where a live event subject is appended in `region`'s own capture subtree:
  // its events stream republishes `regent-log.<c>.<region>.X` onto `regent.<c>.X`.
  const captured = (live: string) => `${s.capture.region(region).slice(0, -1)}${live.slice(s.root.length + 1)}`;
  return {
    publish: {
      allow: [
        // Lease writes: its own region's key (on each of its regional buckets
        // in full mode: a quorum lease writes each of its stores), and on every region's quorum
        // bucket the global key and the scope keys (a regional leader stands
        // for global leader, which grants scopes, and holds one): a quorum
        // lease writes each of its stores.
        ...b.regionalBuckets(region).map((x) => kvSubject(x, REGIONAL_KEY)),
        ...b.regions.flatMap((r) => [kvSubject(b.quorumBucket(r), GLOBAL_KEY), kvSubject(b.quorumBucket(r), SCOPE_FILTER)]),
        // Leader and scope events of its own region, and of the roles a regional
        // leader can have, appended in its own region's capture subtree only
        // (`subjects().capture.region`), and there only these three: the
        // stream republishes whatever it stores with its own authority, so
        // the whole subtree would let a node put events on another region's
        // subjects (docs/wire.md, docs/security.md).
        captured(s.regionLeader(region)),
        captured(s.globalLeader),
        captured(`${s.root}.scope.*`),
        "$JS.API.INFO",
        // Creating an existing stream with its own config is a no-op; any
        // other config is refused, so this cannot edit one. Only its own
        // region's streams: another region's are that region's to create.
        ...[...b.regionalBuckets(region).map(b.kvStream), b.kvStream(b.quorumBucket(region)), b.events(region)].map((x) => `$JS.API.STREAM.CREATE.${x}`),
        ...everyStream.flatMap(readApi),
      ],
      deny: requests,
    },
    subscribe: {
      allow: ["_INBOX.>", s.state, s.regionResign(region), s.globalResign, s.scopeMove],
    },
    allow_responses: true,
  };
}

/** Paths (as the server sees them) of the TLS files of a server. */
export interface ServerTlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** How a config names each identity's public nkey: a quoted literal, or `$VAR` defined in an included file. */
export interface AccessRendering {
  tls: ServerTlsFiles;
  nkey: (id: Identity) => string;
  /** Lines put before the accounts (e.g. `include "secrets/nkeys.conf"`). */
  preamble?: string[];
}

/** Config variable holding an identity's public nkey in generated `nkeys.conf` files. */
export function nkeyVariable(id: Identity): string {
  return `REGENT_NKEY_${id.name.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

/** Checks that no two identities share a config variable (region names differing only in `-` / `_`). */
export function checkIdentities(ids: Identity[]): void {
  const seen = new Map<string, string>();
  for (const id of ids) {
    const v = nkeyVariable(id);
    const other = seen.get(v);
    if (other) throw new ConfigError("regions", `identities ${other} and ${id.name} would share the config variable ${v}; rename a region`);
    seen.set(v, id.name);
  }
}

/** The config fragments of a secured server: top level, inside `cluster {}`, inside `gateway {}`. */
export interface ServerAccessConf {
  top: string[];
  cluster: string[];
  gateway: string[];
}

/**
 * nats-server config fragments for a server of `topology`. No `no_auth_user`
 * and every user has an nkey, so an unauthenticated client is refused; routes
 * and gateways require the server certificate (`verify_and_map` to
 * {@link SERVER_CERT_SUBJECT}); client connections require TLS.
 */
export function serverAccessConf(topology: Topology, r: AccessRendering, mode: ServerMode = "light"): ServerAccessConf {
  const q = JSON.stringify; // nats conf accepts JSON
  const ids = identitiesOf(topology);
  checkIdentities(ids);
  const files = `cert_file: ${q(r.tls.cert)}, key_file: ${q(r.tls.key)}, ca_file: ${q(r.tls.ca)}, timeout: 5`;
  const users = ids.map((id) => `      { nkey: ${r.nkey(id)}, permissions: ${q(permissionsOf(topology, id, mode))} }`);
  const peerTls = [`  tls { ${files}, verify_and_map: true }`, `  authorization { user: ${q(SERVER_CERT_SUBJECT)} }`];
  return {
    top: [
      ...(r.preamble ?? []),
      `tls { ${files} }`,
      `accounts {`,
      `  ${REGENT_ACCOUNT}: {`,
      `    jetstream: enabled`,
      `    users: [`,
      // one user per line: `# node-eu-west` comments name them for a reader
      ...users.flatMap((u, i) => [`      # ${ids[i]!.name}`, u]),
      `    ]`,
      `  }`,
      `}`,
    ],
    cluster: peerTls,
    gateway: peerTls,
  };
}
