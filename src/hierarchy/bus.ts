/**
 * The NATS side of a node: publishing leader events, answering state
 * requests for late joiners, and accepting resign requests while leader.
 * Kept apart from `node.ts` so the hierarchy runs on memory stores in tests.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { MalformedError } from "../errors.js";
import { currentLeader, type LeaderInfo } from "../election/observe.js";
import type { LeaseStore } from "../lease/store.js";
import type { Logger } from "../observability/logger.js";
import { encodeEvent, type LeaderEvent, type LeaseRow, type StateSnapshot } from "../wire/events.js";
import { subjects } from "../wire/subjects.js";
import { packPlain, unpackPlain } from "../wire/msgpack.js";
import { scopeKey, scopeViewOf } from "../scopes/record.js";
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

/** How long one row of a `state` snapshot may take: a dead region must not hold up the answer. */
export const STATE_PART_TIMEOUT_MS = 500;

const UNREACHABLE: LeaseRow = { state: "unreachable", node: null, region: null, token: null, revision: 0, ageMs: null };

/**
 * Reads the current state of every lease of a deployment (authoritative:
 * straight from the KV). Every row is read at the same time with its own
 * deadline (`partTimeoutMs`), so a region that is down makes only its own
 * rows `unreachable` and the answer comes within that deadline whatever is
 * down.
 */
export async function readState(d: StateSource, answeredBy: string, opts: { signal?: AbortSignal; partTimeoutMs?: number } = {}): Promise<StateSnapshot> {
  const partMs = opts.partTimeoutMs ?? STATE_PART_TIMEOUT_MS;
  const deadline = () => (opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(partMs)]) : AbortSignal.timeout(partMs));
  const read = async (store: LeaseStore | ((signal: AbortSignal) => Promise<LeaseStore>), key: string): Promise<LeaseRow> => {
    const signal = deadline();
    try {
      const s = typeof store === "function" ? await store(signal) : store;
      const info = await currentLeader(s, key, { signal });
      return row(info, info.renewedAt !== undefined ? Math.max(0, Date.now() - info.renewedAt) : null);
    } catch {
      return UNREACHABLE;
    }
  };
  const regions: Record<string, LeaseRow> = {};
  const [, global, scopes] = await Promise.all([
    Promise.all(d.regionNames.map(async (name) => (regions[name] = await read((signal) => d.regionStore(name, signal), REGIONAL_KEY)))),
    read(d.global, GLOBAL_KEY),
    readScopes(d.global, d.regionNames, deadline),
  ]);
  return {
    v: 1,
    kind: "state",
    cluster: d.cluster,
    regions,
    global,
    scopes,
    answeredBy,
    at: Date.now(),
  };
}

/** The scope lease table, straight from the global bucket: one read per scope, each with its own deadline. */
async function readScopes(store: LeaseStore, names: string[], deadline: () => AbortSignal): Promise<StateSnapshot["scopes"]> {
  const out: StateSnapshot["scopes"] = {};
  // One scope per region, read by name: listing keys through a gateway costs a second.
  await Promise.all(
    names.map(async (name) => {
      let v;
      try {
        v = scopeViewOf(await store.get(scopeKey(name), { signal: deadline() }));
      } catch {
        out[name] = { ...UNREACHABLE, home: name };
        return;
      }
      if (v.state === "vacant") return;
      if (v.state === "unknown") {
        out[name] = { state: v.state, node: null, region: null, token: null, revision: v.revision, ageMs: null, home: name, pinned: null };
      } else {
        out[name] = {
          state: v.state,
          node: v.record.node,
          region: v.record.region,
          token: v.token,
          revision: v.revision,
          ageMs: Math.max(0, Date.now() - v.record.renewedAt),
          home: v.record.home,
          pinned: v.record.pinned ?? null,
        };
      }
    }),
  );
  return out;
}

/** A request to move a scope (reply: {@link MoveReply}). */
export interface MoveRequest {
  v: number;
  kind: "move";
  scope: string;
  /** Target region; omitted = the scope's home region (failback). */
  to?: string;
  reason: "manual" | "failback";
}

export interface MoveReply {
  v: number;
  kind: "move-result";
  ok: boolean;
  scope: string;
  region?: string;
  node?: string;
  token?: number;
  error?: string;
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
        let reply: MoveReply;
        let scope = "";
        try {
          const req = decodeMoveRequest(m.data);
          scope = req.scope;
          const r = await node.moveScope(req.scope, req.to ?? req.scope, req.reason);
          reply = { v: 1, kind: "move-result", ok: true, scope: r.scope, region: r.region, node: r.node, token: r.token };
        } catch (err) {
          if (err instanceof MalformedError) log.warn({ err: err.message, bytes: m.data.length }, "malformed move request rejected");
          reply = { v: 1, kind: "move-result", ok: false, scope, error: err instanceof Error ? err.message : String(err) };
        }
        respond(m, packPlain(reply));
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

/**
 * Checks a move request (docs/wire.md). Throws {@link MalformedError};
 * `reason` other than "failback" is "manual", as documented.
 */
export function decodeMoveRequest(bytes: Uint8Array): { scope: string; to?: string; reason: "manual" | "failback" } {
  let raw: unknown;
  try {
    raw = unpackPlain(bytes);
  } catch (err) {
    throw new MalformedError(`move request is not msgpack: ${(err as Error).message}`, { cause: err });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new MalformedError("move request is not a map");
  const r = raw as Record<string, unknown>;
  if (r.v !== 1 || r.kind !== "move") throw new MalformedError("not a move request (v 1, kind \"move\")");
  if (typeof r.scope !== "string" || !NAME.test(r.scope)) throw new MalformedError("move request: scope must be a name ([A-Za-z0-9_-]+)");
  if (r.to != null && (typeof r.to !== "string" || !NAME.test(r.to))) throw new MalformedError("move request: to must be a region name ([A-Za-z0-9_-]+)");
  return { scope: r.scope, ...(typeof r.to === "string" ? { to: r.to } : {}), reason: r.reason === "failback" ? "failback" : "manual" };
}
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

function ack(node: RegentNode, tier: "region" | "global", token: number): LeaderEvent {
  return { v: 1, kind: "deposed", tier, cluster: node.cluster, region: node.region, node: node.id, token, leaseMs: 0, reason: "resigned", at: Date.now() };
}
