/**
 * The NATS side of a node: publishing leader events, answering state
 * requests for late joiners, and accepting resign requests while leader.
 * Kept apart from `node.ts` so the hierarchy runs on memory stores in tests.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { ConfigError, MalformedError } from "../errors.js";
import { currentLeader, type LeaderInfo } from "../election/observe.js";
import type { LeaseStore } from "../lease/store.js";
import type { Logger } from "../observability/logger.js";
import { encodeEvent, WIRE_VERSION, type LeaderEvent, type LeaseRow, type StateSnapshot } from "../wire/events.js";
import { decodeMoveRequest, encodeMoveReply } from "../wire/move.js";
import { GLOBAL_KEY, REGIONAL_KEY, scopeKey, STATE_QUEUE } from "../wire/names.js";
import { subjects } from "../wire/subjects.js";
import { scopeViewOf } from "../scopes/record.js";
import type { RegentNode } from "./node.js";

/** The stores of a whole deployment, as seen from one connection (`openStoreLayout`). */
export interface LayoutStores {
  cluster: string;
  /**
   * Every region's regional stores, for reads (status, the scope authority's
   * region liveness): one store, or one per server when the region elects on
   * a quorum of them (full mode). The node's own single store is open, every
   * other store is bound lazily.
   */
  regions: Map<string, LeaseStore[]>;
  /** Region of each quorum slot, in topology order (sorted by name). */
  quorumRegions: string[];
  /** Every region's quorum store, in that order (own open, others lazy): for reads such as `readState`. */
  quorum: LeaseStore[];
  /** Fresh quorum store objects, one set per quorum participant (`NodeOptions.quorumStores`, docs/quorum.md Q3). */
  quorumStores: () => LeaseStore[];
  /**
   * The node's own region's regional stores for its regional election: one
   * store (the open one, the same object every call), or, for a region
   * electing on a quorum of per-server buckets, fresh store objects per call
   * (docs/quorum.md Q3), as {@link quorumStores}.
   */
  regionalStores: () => LeaseStore[];
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
  /** A region's regional store, or its stores when it elects on a quorum of them (full mode). */
  regionStore(name: string, signal?: AbortSignal): Promise<LeaseStore | LeaseStore[]>;
  /** The quorum of the global lease and the scope leases, in topology order. */
  quorum: LeaseStore[];
}

/** A {@link StateSource} over already-open stores (a region's entry: its store, or its quorum's stores). */
export function stateSourceOf(d: { cluster: string; regions: ReadonlyMap<string, LeaseStore | LeaseStore[]>; quorum: LeaseStore[] }): StateSource {
  return {
    cluster: d.cluster,
    regionNames: [...d.regions.keys()],
    regionStore: async (name) => {
      const s = d.regions.get(name);
      if (!s) throw new ConfigError("region", `no store for region ${name}`, { named: true });
      return s;
    },
    quorum: d.quorum,
  };
}

/** How long one row of a `state` snapshot may take: a dead region must not hold up the answer. */
export const STATE_PART_TIMEOUT_MS = 500;

const UNREACHABLE: LeaseRow = { state: "unreachable", node: null, region: null, token: null, revision: 0, ageMs: null };

/**
 * Reads the current state of every lease of a deployment (authoritative:
 * straight from the KV). Every row is read at the same time with its own
 * deadline (`partTimeoutMs`), so a region that is down makes only its own
 * rows `unreachable` (or, for quorum rows, only lowers their count of
 * answering stores) and the answer comes within that deadline whatever is
 * down.
 */
export async function readState(d: StateSource, answeredBy: string, opts: { signal?: AbortSignal; partTimeoutMs?: number } = {}): Promise<StateSnapshot> {
  const partMs = opts.partTimeoutMs ?? STATE_PART_TIMEOUT_MS;
  const deadline = () => (opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(partMs)]) : AbortSignal.timeout(partMs));
  const regions: Record<string, LeaseRow> = {};
  const [, global, scopes] = await Promise.all([
    Promise.all(d.regionNames.map(async (name) => (regions[name] = await readRegion(d, name, deadline)))),
    readQuorumRow(d.quorum, deadline, leaseRead(GLOBAL_KEY)),
    readScopes(d.quorum, d.regionNames, deadline),
  ]);
  return {
    v: WIRE_VERSION,
    kind: "state",
    cluster: d.cluster,
    regions,
    global: global ?? { ...UNREACHABLE, state: "vacant" },
    scopes,
    answeredBy,
    at: Date.now(),
  };
}

/** Reads `key` on one store of a quorum lease (token = term) for {@link readQuorumRow}. */
const leaseRead =
  (key: string) =>
  async (s: LeaseStore, signal: AbortSignal): Promise<QuorumRead> => {
    const info = await currentLeader(s, key, { signal });
    return { term: info.token ?? 0, at: info.renewedAt ?? 0, row: row(info, info.renewedAt !== undefined ? Math.max(0, Date.now() - info.renewedAt) : null) };
  };

/**
 * A region's row: its one regional store, or, for a region electing on a
 * quorum of per-server stores (full mode), every one of them at once with
 * its own deadline, shown like the global row (the highest term found, with
 * `quorum: {stores, answered, agree}`).
 */
async function readRegion(d: StateSource, name: string, deadline: () => AbortSignal): Promise<LeaseRow> {
  let stores: LeaseStore | LeaseStore[];
  const signal = deadline();
  try {
    stores = await d.regionStore(name, signal);
  } catch {
    return UNREACHABLE;
  }
  if (Array.isArray(stores) && stores.length > 1) return (await readQuorumRow(stores, deadline, leaseRead(REGIONAL_KEY))) ?? { ...UNREACHABLE, state: "vacant" };
  const store = Array.isArray(stores) ? stores[0] : stores;
  if (!store) return UNREACHABLE;
  try {
    const info = await currentLeader(store, REGIONAL_KEY, { signal });
    return row(info, info.renewedAt !== undefined ? Math.max(0, Date.now() - info.renewedAt) : null);
  } catch {
    return UNREACHABLE;
  }
}

/** One store's answer for a quorum row: the term its record carries (0 for vacant or undecodable), its writer's wall time, the row. */
interface QuorumRead {
  term: number;
  at: number;
  row: LeaseRow | null;
}

/**
 * A quorum lease's row: every store read at once, each with its own deadline.
 * Shows the record of the highest term found on the answering stores (its
 * latest write when several carry that term) with how many stores answered
 * and agree; `unreachable` only when fewer than a majority answered, since
 * then nothing read says who holds it. `null` when the answering stores show
 * no record (a row for a vacant lease).
 */
async function readQuorumRow(stores: LeaseStore[], deadline: () => AbortSignal, readOne: (s: LeaseStore, signal: AbortSignal) => Promise<QuorumRead>): Promise<LeaseRow | null> {
  const answers = (await Promise.all(stores.map((s) => readOne(s, deadline()).catch(() => null)))).filter((a): a is QuorumRead => a !== null);
  const quorum = { stores: stores.length, answered: answers.length, agree: 0 };
  if (answers.length < Math.floor(stores.length / 2) + 1) return { ...UNREACHABLE, quorum };
  let best: QuorumRead | null = null;
  for (const a of answers) if (!best || a.term > best.term || (a.term === best.term && a.at > best.at)) best = a;
  quorum.agree = answers.filter((a) => a.term === best!.term).length;
  return best?.row ? { ...best.row, quorum } : null;
}

/** The scope lease table, straight from the quorum stores: one read per scope and store, each with its own deadline. */
async function readScopes(stores: LeaseStore[], names: string[], deadline: () => AbortSignal): Promise<StateSnapshot["scopes"]> {
  const out: StateSnapshot["scopes"] = {};
  // One scope per region, read by name: listing keys through a gateway costs a second.
  await Promise.all(
    names.map(async (name) => {
      const r = await readQuorumRow(stores, deadline, async (s, signal) => {
        const v = scopeViewOf(await s.get(scopeKey(name), { signal }));
        if (v.state === "vacant") return { term: 0, at: 0, row: null };
        if (v.state === "unknown") return { term: 0, at: 0, row: { state: v.state, node: null, region: null, token: null, revision: v.revision, ageMs: null } };
        const row: LeaseRow & { pinned: string | null; home: string } = {
          state: v.state,
          node: v.record.node,
          region: v.record.region,
          token: v.token,
          revision: v.revision,
          ageMs: Math.max(0, Date.now() - v.record.renewedAt),
          home: v.record.home,
          pinned: v.record.pinned ?? null,
        };
        return { term: v.token, at: v.record.renewedAt, row };
      });
      if (!r) return;
      out[name] = { home: name, pinned: null, ...r };
    }),
  );
  return out;
}

/**
 * Serves a node on the bus: answers `state` requests (queue group, so one
 * node answers) and, while it leads, resign requests for its tier.
 * Returns a function that removes every subscription.
 */
export function serveNode(nc: NatsConnection, node: RegentNode, d: StateSource, log: Logger): () => void {
  const s = subjects(node.cluster);
  const subs: Subscription[] = [];
  const stateSub = nc.subscribe(s.state, { queue: STATE_QUEUE });
  subs.push(stateSub);
  void (async () => {
    for await (const m of stateSub) {
      try {
        m.respond(encodeEvent(await readState(d, node.id)));
      } catch (err) {
        log.warn({ err }, "state request failed");
      }
    }
  })();

  // Scope moves are served by the lease authority only: subscribe while global leader.
  let moveSub: Subscription | null = null;
  const serveMoves = () => {
    const sub = nc.subscribe(s.scopeMove);
    moveSub = sub;
    void (async () => {
      for await (const m of sub) {
        if (!isRequest(m, "move", log)) continue;
        let reply: Uint8Array;
        let scope = "";
        try {
          const req = decodeMoveRequest(m.data);
          scope = req.scope;
          const r = await node.moveScope(req.scope, req.to ?? req.scope, req.reason);
          reply = encodeMoveReply({ ok: true, scope: r.scope, region: r.region, node: r.node, token: r.token });
        } catch (err) {
          if (err instanceof MalformedError) log.warn({ err: err.message, bytes: m.data.length }, "malformed move request rejected");
          reply = encodeMoveReply({ ok: false, scope, error: err instanceof Error ? err.message : String(err) });
        }
        respond(m, reply);
      }
    })();
  };

  const resignSubs = new Map<string, Subscription>();
  const off = node.on((e) => {
    if (e.type !== "elected" && e.type !== "deposed") return;
    if (e.tier === "global") {
      if (e.type === "elected" && !moveSub) serveMoves();
      if (e.type === "deposed") {
        moveSub?.unsubscribe();
        moveSub = null;
      }
    }
    const subject = e.tier === "region" ? s.regionResign(node.region) : s.globalResign;
    if (e.type === "elected" && !resignSubs.has(subject)) {
      const sub = nc.subscribe(subject);
      resignSubs.set(subject, sub);
      void (async () => {
        for await (const m of sub) {
          if (!isRequest(m, `${e.tier} resign`, log)) continue;
          // A resign request is empty (docs/wire.md); anything else was not
          // sent by regent and must not change leadership.
          if (m.data.length > 0) {
            log.warn({ tier: e.tier, bytes: m.data.length }, "malformed resign request rejected (a resign request is empty)");
            continue;
          }
          log.info({ tier: e.tier }, "resign requested");
          await node.resign(e.tier).catch(() => undefined);
          respond(m, encodeEvent({ ...ack(node, e.tier, e.token) }));
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
    moveSub?.unsubscribe();
    resignSubs.clear();
  };
}

/**
 * A request always carries a reply subject; a message without one was not
 * sent by `regent resign`/`failover`/`failback`. In particular a stream's
 * `republish` delivers stored messages with no reply subject and bypasses
 * publish permissions: a node identity that creates a missing stream with
 * a republish onto a request subject (docs/security.md) must not resign a
 * leader or move a scope that way.
 */
function isRequest(m: Msg, what: string, log: Logger): boolean {
  if (m.reply) return true;
  log.warn({ subject: m.subject, bytes: m.data.length, republished: m.headers?.get("Nats-Stream") || undefined }, `${what} message without a reply subject ignored (not a request)`);
  return false;
}

/** Replies if the request asked for a reply; a dropped connection is not the handler's failure. */
function respond(m: Msg, data: Uint8Array): void {
  try {
    m.respond(data);
  } catch {
    /* the requester is gone */
  }
}

function ack(node: RegentNode, tier: "region" | "global", token: number): LeaderEvent {
  return { v: WIRE_VERSION, kind: "deposed", tier, cluster: node.cluster, region: node.region, node: node.id, token, leaseMs: 0, reason: "resigned", at: Date.now() };
}
