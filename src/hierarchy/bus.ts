/**
 * The NATS side of a node: publishing leader events, answering state
 * requests for late joiners, and accepting resign requests while leader.
 * Kept apart from `node.ts` so the hierarchy runs on memory stores in tests.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { currentLeader, type LeaderInfo } from "../election/observe.js";
import type { LeaseStore } from "../lease/store.js";
import type { Logger } from "../observability/logger.js";
import { encodeEvent, type LeaderEvent, type LeaseRow, type StateSnapshot } from "../wire/events.js";
import { subjects } from "../wire/subjects.js";
import { GLOBAL_KEY, REGIONAL_KEY, type RegentNode } from "./node.js";

/** The stores of a whole deployment, as seen from one connection. */
export interface DeploymentStores {
  cluster: string;
  regions: Map<string, LeaseStore>;
  global: LeaseStore;
}

function row(info: LeaderInfo, wallAgeMs: number | null): LeaseRow {
  return {
    state: info.state,
    node: info.meta?.node ?? info.leader,
    region: info.meta?.region ?? null,
    token: info.token,
    revision: info.revision,
    ageMs: wallAgeMs,
  };
}

/**
 * Where a node reads deployment state from. Other regions' buckets are opened
 * lazily: a region that is down must not stop a node from starting or from
 * answering (its row reads "unreachable").
 */
export interface StateSource {
  cluster: string;
  regionNames: string[];
  regionStore(name: string, signal?: AbortSignal): Promise<LeaseStore>;
  global: LeaseStore;
}

/** A {@link StateSource} over already-open stores. */
export function stateSourceOf(d: DeploymentStores): StateSource {
  return {
    cluster: d.cluster,
    regionNames: [...d.regions.keys()],
    regionStore: async (name) => {
      const s = d.regions.get(name);
      if (!s) throw new Error(`no store for region ${name}`);
      return s;
    },
    global: d.global,
  };
}

/** Reads the current state of every lease of a deployment (authoritative: straight from the KV). */
export async function readState(d: StateSource, answeredBy: string, opts: { signal?: AbortSignal } = {}): Promise<StateSnapshot> {
  const read = async (store: LeaseStore | (() => Promise<LeaseStore>), key: string): Promise<LeaseRow> => {
    try {
      const info = await currentLeader(typeof store === "function" ? await store() : store, key, opts);
      return row(info, info.renewedAt !== undefined ? Math.max(0, Date.now() - info.renewedAt) : null);
    } catch {
      return { state: "unreachable", node: null, region: null, token: null, revision: 0, ageMs: null };
    }
  };
  const regions: Record<string, LeaseRow> = {};
  await Promise.all(d.regionNames.map(async (name) => (regions[name] = await read(() => d.regionStore(name, opts.signal), REGIONAL_KEY))));
  return {
    v: 1,
    kind: "state",
    cluster: d.cluster,
    regions,
    global: await read(d.global, GLOBAL_KEY),
    scopes: {},
    answeredBy,
    at: Date.now(),
  };
}

/**
 * Serves a node on the bus: answers `state` requests (queue group, so one
 * node answers) and, while it leads, resign requests for its tier.
 * Returns a function that removes every subscription.
 */
export function serveNode(nc: NatsConnection, node: RegentNode, d: StateSource, log: Logger): () => void {
  const s = subjects(node.cluster);
  const subs: Subscription[] = [];
  const stateSub = nc.subscribe(s.state, { queue: "regent-state" });
  subs.push(stateSub);
  void (async () => {
    for await (const m of stateSub) {
      try {
        m.respond(encodeEvent(await readState(d, node.id, { signal: AbortSignal.timeout(2_000) })));
      } catch (err) {
        log.warn({ err }, "state request failed");
      }
    }
  })();

  const resignSubs = new Map<string, Subscription>();
  const off = node.on((e) => {
    if (e.type !== "elected" && e.type !== "deposed") return;
    const subject = e.tier === "region" ? s.regionResign(node.region) : s.globalResign;
    if (e.type === "elected" && !resignSubs.has(subject)) {
      const sub = nc.subscribe(subject);
      resignSubs.set(subject, sub);
      void (async () => {
        for await (const m of sub) {
          log.info({ tier: e.tier }, "resign requested");
          await node.resign(e.tier).catch(() => undefined);
          m.respond(encodeEvent({ ...ack(node, e.tier, e.token) }));
        }
      })();
    } else if (e.type === "deposed") {
      resignSubs.get(subject)?.unsubscribe();
      resignSubs.delete(subject);
    }
  });
  return () => {
    off();
    for (const sub of [...subs, ...resignSubs.values()]) sub.unsubscribe();
    resignSubs.clear();
  };
}

function ack(node: RegentNode, tier: "region" | "global", token: number): LeaderEvent {
  return { v: 1, kind: "deposed", tier, cluster: node.cluster, region: node.region, node: node.id, token, leaseMs: 0, reason: "resigned", at: Date.now() };
}
