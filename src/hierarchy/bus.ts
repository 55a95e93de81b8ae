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

/** Publishes leader events on their subjects (fire and forget; NATS buffers while reconnecting). */
export function leaderPublisher(nc: NatsConnection, cluster: string, log?: Logger): (e: LeaderEvent) => void {
  const s = subjects(cluster);
  return (e) => {
    const subject = e.tier === "region" ? s.regionLeader(e.region) : s.globalLeader;
    try {
      nc.publish(subject, encodeEvent(e));
    } catch (err) {
      log?.warn({ err, subject }, "publish failed");
    }
  };
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

/** Reads the current state of every lease of a deployment (authoritative: straight from the KV). */
export async function readState(d: DeploymentStores, answeredBy: string, opts: { signal?: AbortSignal } = {}): Promise<StateSnapshot> {
  const read = async (store: LeaseStore, key: string): Promise<LeaseRow> => {
    try {
      const info = await currentLeader(store, key, opts);
      return row(info, info.renewedAt !== undefined ? Math.max(0, Date.now() - info.renewedAt) : null);
    } catch {
      return { state: "unreachable", node: null, region: null, token: null, revision: 0, ageMs: null };
    }
  };
  const regions: Record<string, LeaseRow> = {};
  await Promise.all([...d.regions].map(async ([name, store]) => (regions[name] = await read(store, REGIONAL_KEY))));
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
export function serveNode(nc: NatsConnection, node: RegentNode, d: DeploymentStores, log: Logger): () => void {
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
