/**
 * Events regent publishes on its subjects, as plain msgpack maps (no msgpackr
 * extensions), so Python's `msgpack`, Go's `vmihailenco/msgpack` etc. decode
 * them. Every event has `v` (schema version) and `kind`. Field tables are in
 * docs/wire.md; `test/wire/python-decode.test.ts` decodes them with Python.
 */
import { packPlain, unpackMap } from "./msgpack.js";
import { MalformedError } from "../errors.js";

/** Schema version of every event. Consumers must ignore events with a higher `v` they do not know. */
export const WIRE_VERSION = 1;

/**
 * Why a leader stopped (the one definition: an election's own reasons are
 * the subset without `region-lost`). `region-lost`: a global leader whose
 * regional leadership ended.
 */
export type DeposedReason = "lapsed" | "resigned" | "superseded" | "stopped" | "region-lost";

/** A regional or global leader was elected or deposed. */
export interface LeaderEvent {
  v: number;
  kind: "elected" | "deposed";
  tier: "region" | "global";
  cluster: string;
  /** Region of the node. */
  region: string;
  node: string;
  /** Fencing token of the term. Order events of one tier (and region) by token. */
  token: number;
  /** Lease duration of the term, ms. */
  leaseMs: number;
  /** Only on `deposed`. */
  reason?: DeposedReason;
  /** Only on `elected`: the previous holder seen in the lease record, if any. */
  previous?: { node: string; token: number } | null;
  /** Wall-clock ms when published. Display only. */
  at: number;
}

/** Why a scope moved. */
export type MoveReason = "initial" | "failover" | "failback" | "manual" | "leader-change";

/** A scope lease changed hands or state. */
export interface ScopeEvent {
  v: number;
  /** `granted` by the authority; `held` once the lessee confirmed (from then on it may act); `lapsed`; `released`. */
  kind: "granted" | "held" | "lapsed" | "released";
  cluster: string;
  scope: string;
  /** Region and node that hold (granted), held (lapsed, released) the scope. */
  region: string;
  node: string;
  token: number;
  reason?: MoveReason;
  /** Previous holder on a grant that moved the scope. */
  from?: { region: string; node: string; token: number } | null;
  at: number;
}

/** One row of the state snapshot. */
export interface LeaseRow {
  /** `held`, `released`, `vacant` or `unknown`. */
  state: string;
  node: string | null;
  region: string | null;
  token: number | null;
  /** Store revision read. */
  revision: number;
  /** Age of the last write by its holder, ms, on the answering node's reading of wall clocks: display only. */
  ageMs: number | null;
  /**
   * Quorum leases (global, scopes, a full-mode region): of the quorum's `stores`, how many
   * `answered` the read and how many of those `agree` with the row (carry
   * its term). Absent on rows of a single-store region and in replies of older nodes.
   */
  quorum?: { stores: number; answered: number; agree: number };
}

/** Current state for late joiners: reply to `regent.<cluster>.state`. */
export interface StateSnapshot {
  v: number;
  kind: "state";
  cluster: string;
  /** Regional leases by region name. */
  regions: Record<string, LeaseRow>;
  global: LeaseRow;
  /**
   * Scope leases by scope name (home region of the scope = scope name).
   * `pinned`: `"manual"` when moved by hand (no automatic failback), else null;
   * absent in replies of older nodes.
   */
  scopes: Record<string, LeaseRow & { home: string; pinned?: string | null }>;
  /** Node that answered. */
  answeredBy: string;
  at: number;
}

export type WireEvent = LeaderEvent | ScopeEvent | StateSnapshot;

/**
 * The `Nats-Msg-Id` an event is appended to its events stream with: one per
 * (kind, lease, holder, token), so retries and double reports (a `lapsed`
 * from both lessee and authority) are stored once within the stream's
 * duplicate window (docs/wire.md, "Events stream").
 */
export function eventMsgId(e: LeaderEvent | ScopeEvent): string {
  return "tier" in e ? `${e.kind}.${e.tier}.${e.region}.${e.node}.${e.token}` : `${e.kind}.scope.${e.scope}.${e.region}.${e.node}.${e.token}`;
}

/** Encodes an event to msgpack. */
export function encodeEvent(e: WireEvent): Uint8Array {
  return packPlain(e);
}

/**
 * Decodes and checks an event. Throws {@link MalformedError} on anything
 * else. Every known field is checked, nested ones included, so a foreign
 * value (a 64-bit integer decoded as BigInt, a map where a string belongs)
 * never reaches code that prints the event. Unknown fields are kept as
 * decoded (consumers ignore them, docs/wire.md): serialise with a BigInt-safe
 * replacer.
 */
export function decodeEvent(bytes: Uint8Array): WireEvent {
  const r = unpackMap(bytes, "event");
  if (typeof r.v !== "number" || !Number.isInteger(r.v) || r.v > WIRE_VERSION || r.v < 1) throw new MalformedError(`unsupported event version ${describe(r.v)}`);
  const base = { v: r.v, cluster: str(r, "cluster"), at: num(r, "at") };
  switch (r.kind) {
    case "elected":
    case "deposed": {
      if (r.tier !== "region" && r.tier !== "global") throw new MalformedError("event field tier must be region or global");
      const e: LeaderEvent = { ...base, kind: r.kind, tier: r.tier, region: str(r, "region"), node: str(r, "node"), token: int(r, "token"), leaseMs: int(r, "leaseMs") };
      if (r.reason != null) e.reason = str(r, "reason") as DeposedReason;
      if (r.previous != null) {
        const p = map(r.previous, "event field previous");
        e.previous = { node: str(p, "node", "previous."), token: int(p, "token", "previous.") };
      } else if ("previous" in r) e.previous = null;
      return withUnknown(r, e);
    }
    case "granted":
    case "held":
    case "lapsed":
    case "released": {
      const e: ScopeEvent = { ...base, kind: r.kind, scope: str(r, "scope"), region: str(r, "region"), node: str(r, "node"), token: int(r, "token") };
      if (r.reason != null) e.reason = str(r, "reason") as MoveReason;
      if (r.from != null) {
        const f = map(r.from, "event field from");
        e.from = { region: str(f, "region", "from."), node: str(f, "node", "from."), token: int(f, "token", "from.") };
      } else if ("from" in r) e.from = null;
      return withUnknown(r, e);
    }
    case "state": {
      const regions: Record<string, LeaseRow> = {};
      for (const [k, x] of Object.entries(map(r.regions, "state.regions"))) regions[k] = row(x, `regions.${k}`);
      const scopes: StateSnapshot["scopes"] = {};
      for (const [k, x] of Object.entries(r.scopes == null ? {} : map(r.scopes, "state.scopes"))) {
        scopes[k] = { ...row(x, `scopes.${k}`), home: str(map(x, `scopes.${k}`), "home", `scopes.${k}.`) };
      }
      return withUnknown(r, { ...base, kind: "state", regions, global: row(r.global, "global"), scopes, answeredBy: str(r, "answeredBy") });
    }
    default:
      throw new MalformedError(`unknown event kind ${describe(r.kind)}`);
  }
}

/** The checked event, with the unknown fields of `r` beside it (known ones never come from `r` unchecked). */
function withUnknown<T extends WireEvent>(r: Record<string, unknown>, checked: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) if (!(k in checked) && !KNOWN.has(k)) out[k] = v;
  return Object.assign(out, checked) as T;
}
const KNOWN = new Set(["v", "kind", "tier", "cluster", "region", "node", "token", "leaseMs", "reason", "previous", "at", "scope", "from", "regions", "global", "scopes", "answeredBy"]);

function describe(x: unknown): string {
  const s = typeof x === "bigint" ? `${x}` : JSON.stringify(x) ?? String(x);
  return s.length > 64 ? `${s.slice(0, 64)}…` : s;
}
function map(x: unknown, what: string): Record<string, unknown> {
  if (typeof x !== "object" || x === null || Array.isArray(x) || x instanceof Uint8Array) throw new MalformedError(`${what} is not a map`);
  return x as Record<string, unknown>;
}
function str(r: Record<string, unknown>, f: string, prefix = ""): string {
  if (typeof r[f] !== "string") throw new MalformedError(`event field ${prefix}${f} must be a string`);
  return r[f] as string;
}
function int(r: Record<string, unknown>, f: string, prefix = ""): number {
  const x = r[f];
  if (typeof x !== "number" || !Number.isSafeInteger(x) || x < 0) throw new MalformedError(`event field ${prefix}${f} must be a non-negative integer`);
  return x;
}
function num(r: Record<string, unknown>, f: string): number {
  const x = r[f];
  if (typeof x !== "number" || !Number.isFinite(x)) throw new MalformedError(`event field ${f} must be a number`);
  return x;
}
function orNull<T>(r: Record<string, unknown>, f: string, read: (r: Record<string, unknown>, f: string, p: string) => T, prefix: string): T | null {
  return r[f] == null ? null : read(r, f, prefix);
}
function row(x: unknown, where: string): LeaseRow {
  const r = map(x, `state.${where}`);
  const p = `${where}.`;
  return {
    state: str(r, "state", p),
    node: orNull(r, "node", str, p),
    region: orNull(r, "region", str, p),
    token: orNull(r, "token", int, p),
    revision: int(r, "revision", p),
    ageMs: orNull(r, "ageMs", (rr, f) => num(rr, f), p),
    ...(r.quorum != null ? { quorum: quorumOf(map(r.quorum, `state.${p}quorum`), `${p}quorum.`) } : {}),
  };
}
function quorumOf(q: Record<string, unknown>, p: string): NonNullable<LeaseRow["quorum"]> {
  return { stores: int(q, "stores", p), answered: int(q, "answered", p), agree: int(q, "agree", p) };
}
