/**
 * Events regent publishes on its subjects, as plain msgpack maps (no msgpackr
 * extensions), so Python's `msgpack`, Go's `vmihailenco/msgpack` etc. decode
 * them. Every event has `v` (schema version) and `kind`. Field tables are in
 * docs/wire.md; `test/wire/python-decode.test.ts` decodes them with Python.
 */
import { packPlain, unpackPlain } from "./msgpack.js";
import { MalformedError } from "../errors.js";

/** Schema version of every event. Consumers must ignore events with a higher `v` they do not know. */
export const WIRE_VERSION = 1;

/** Why a leader stopped. `region-lost`: a global leader whose regional leadership ended. */
export type DeposeReason = "lapsed" | "resigned" | "superseded" | "stopped" | "region-lost";

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
  reason?: DeposeReason;
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


/** Encodes an event to msgpack. */
export function encodeEvent(e: WireEvent): Uint8Array {
  return packPlain(e);
}

/** Decodes and checks an event. Throws {@link MalformedError} on anything else. */
export function decodeEvent(bytes: Uint8Array): WireEvent {
  let raw: unknown;
  try {
    raw = unpackPlain(bytes);
  } catch (err) {
    throw new MalformedError(`not msgpack: ${(err as Error).message}`, { cause: err });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new MalformedError("event is not a map");
  const r = raw as Record<string, unknown>;
  if (typeof r.v !== "number" || r.v > WIRE_VERSION || r.v < 1) throw new MalformedError(`unsupported event version ${String(r.v)}`);
  const str = (f: string) => {
    if (typeof r[f] !== "string") throw new MalformedError(`event field ${f} must be a string`);
  };
  const int = (f: string) => {
    if (!Number.isSafeInteger(r[f])) throw new MalformedError(`event field ${f} must be an integer`);
  };
  str("cluster");
  switch (r.kind) {
    case "elected":
    case "deposed":
      if (r.tier !== "region" && r.tier !== "global") throw new MalformedError("event field tier must be region or global");
      ["region", "node"].forEach(str);
      ["token", "leaseMs"].forEach(int);
      return r as unknown as LeaderEvent;
    case "granted":
    case "held":
    case "lapsed":
    case "released":
      ["scope", "region", "node"].forEach(str);
      int("token");
      return r as unknown as ScopeEvent;
    case "state":
      if (typeof r.regions !== "object" || r.regions === null) throw new MalformedError("state.regions must be a map");
      return r as unknown as StateSnapshot;
    default:
      throw new MalformedError(`unknown event kind ${JSON.stringify(r.kind)}`);
  }
}
