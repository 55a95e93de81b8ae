/**
 * Helpers for killing one nats-server of a full-mode deployment at a time:
 * what each server hosts, reading those records from the live stores, and
 * the roles whose renewals must carry on without it. Shared by the
 * integration test (test/integration/full-mode-server-loss.test.ts) and the
 * benchmark (bench/servers.ts), so both look at the same records the same way.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { CandidateEvent, RegentProcess } from "../../src/launcher/candidates.js";
import { getJson } from "../../src/launcher/ports.js";
import { serverName } from "../../src/hierarchy/store-layout.js";
import { NatsLeaseStore } from "../../src/lease/nats-store.js";
import { viewOf } from "../../src/lease/record.js";
import { scopeViewOf } from "../../src/scopes/record.js";
import type { TestHarness } from "./harness.js";
import { quorumBucket, regionServerBucket, GLOBAL_KEY, REGIONAL_KEY, scopeKey } from "../../src/wire/names.js";

/** A record one holder writes on a store: which bucket and key, and how to tell its holder and term. */
export interface Hosted {
  bucket: string;
  key: string;
  what: string;
}

/**
 * The records a server hosts: its region's regional bucket on it, and on
 * `<region>-1` the region's quorum bucket (global and every scope of `scopes`).
 */
export function hostedBy(region: string, n: number, scopes: readonly string[]): Hosted[] {
  const out: Hosted[] = [{ bucket: regionServerBucket(region, n), key: REGIONAL_KEY, what: `region ${region} on ${serverName(region, n)}` }];
  if (n === 1) {
    out.push({ bucket: quorumBucket(region), key: GLOBAL_KEY, what: `global on ${serverName(region, 1)}` });
    for (const s of scopes) out.push({ bucket: quorumBucket(region), key: scopeKey(s), what: `scope ${s} on ${serverName(region, 1)}` });
  }
  return out;
}

/** One record as read from its store: the holder and term, or nulls when free. */
export interface RecordRead {
  revision: number;
  holder: string | null;
  token: number | null;
}

/** Reads hosted records over one connection, opening each bucket once. */
export class RecordReader {
  private readonly stores = new Map<string, NatsLeaseStore>();
  constructor(private readonly nc: NatsConnection) {}

  async read(h: Hosted): Promise<RecordRead> {
    let s = this.stores.get(h.bucket);
    if (!s) {
      s = await NatsLeaseStore.open(this.nc, { bucket: h.bucket, create: false, timeoutMs: 1_000 });
      this.stores.set(h.bucket, s);
    }
    const e = await s.get(h.key, { signal: AbortSignal.timeout(1_000) });
    if (h.key.startsWith("scope.")) {
      const v = scopeViewOf(e);
      return v.state === "held" ? { revision: v.revision, holder: v.record.node, token: v.token } : { revision: v.revision, holder: null, token: null };
    }
    const v = viewOf(e);
    return v.state === "held" ? { revision: v.revision, holder: v.holder, token: v.token } : { revision: v.revision, holder: null, token: null };
  }
}

/** Polls until `pred` holds (each poll a read of the live stores). */
export async function until<T>(probe: () => Promise<T>, pred: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const end = performance.now() + timeoutMs;
  let last: T | undefined;
  let err: unknown;
  for (;;) {
    try {
      last = await probe();
      if (pred(last)) return last;
    } catch (e) {
      err = e;
    }
    if (performance.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(last)}, error: ${String(err)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Does `e` report a validity for `role` (`region`, `global`, or a scope)? */
export function validityEvent(e: CandidateEvent, role: string): boolean {
  return role === "region" || role === "global"
    ? (e.type === "renewed" || e.type === "elected") && e.tier === role
    : (e.type === "scope-renewed" || e.type === "scope-held") && e.scope === role;
}

/** The latest validity `n` reported for a role (`region`, `global`, or a scope). */
export function validity(n: RegentProcess, role: string): number {
  return n.events.findLast((x) => validityEvent(x, role))?.validUntil ?? 0;
}

/** A role one process holds: the process, `region` / `global` / a scope name, and its lease. */
export type Role = [RegentProcess, string, number];

/** Every role held now (each region's leader, the global leader, each scope's holder), with its lease. */
export function currentRoles(dep: TestHarness): Role[] {
  const t = dep.topology;
  const regions = t.regions.map((r) => r.name);
  return [
    ...t.regions.map((r): Role => [dep.regionalLeader(r.name)!, "region", r.leaseMs]),
    [dep.globalLeader()!, "global", t.global.leaseMs],
    ...regions.map((s): Role => [dep.scopeHolder(s)!, s, t.scopes.leaseMs]),
  ];
}

/** Role changes among the events since `marks`: every term that began or ended (`node type tier/scope reason`). */
export function roleChanges(dep: TestHarness, marks: Map<RegentProcess, number>): string[] {
  return dep.nodes.flatMap((n) =>
    n.events
      .slice(marks.get(n) ?? 0)
      .filter((e) => e.type === "deposed" || e.type === "scope-ended" || e.type === "elected" || e.type === "scope-held")
      .map((e) => `${n.id} ${e.type} ${String(e.tier ?? e.scope)} ${e.reason ?? ""}`),
  );
}

/** `regent node` client connections on one server (its monitoring endpoint). */
export async function nodeConnections(dep: TestHarness, server: string): Promise<number> {
  const region = dep.topology.regions.find((r) => server.startsWith(`${r.name}-`))!.name;
  const member = dep.servers.regions[region]!.servers.find((m) => m.name === server)!;
  const connz = await getJson<{ connections?: { name?: string }[] }>(`http://127.0.0.1:${member.monitorPort}/connz`);
  return (connz.connections ?? []).filter((c) => c.name?.startsWith("regent-node-")).length;
}
