/**
 * The scope move request on `scope-authority.move` and its reply: plain
 * msgpack maps that are not events (docs/wire.md, "Scope move request").
 * `regent failover`/`failback`, the dashboard and the drills send the
 * request (requests.ts); the lease authority answers it (hierarchy/bus.ts).
 */
import { MalformedError } from "../errors.js";
import { packPlain, unpackMap, unpackPlain } from "./msgpack.js";

/** Schema version of {@link MoveRequest} and {@link MoveReply}. */
export const MOVE_VERSION = 1;

/** A request to move a scope (reply: {@link MoveReply}). */
export interface MoveRequest {
  v: number;
  kind: "move";
  scope: string;
  /** Target region; omitted = the scope's home region (failback). */
  to?: string;
  reason: "manual" | "failback";
}

/** What a move request asks for, as the authority acts on it. */
export type MoveOrder = Pick<MoveRequest, "scope" | "to" | "reason">;

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

/** Encodes a move request (only the fields of `order`: callers pass wider option objects). */
export function encodeMoveRequest(order: MoveOrder): Uint8Array {
  const req: MoveRequest = { v: MOVE_VERSION, kind: "move", scope: order.scope, to: order.to, reason: order.reason };
  return packPlain(req);
}

/**
 * Checks a move request. Throws {@link MalformedError}; `reason` other than
 * "failback" is "manual", as documented.
 */
export function decodeMoveRequest(bytes: Uint8Array): MoveOrder {
  const r = unpackMap(bytes, "move request");
  if (r.v !== MOVE_VERSION || r.kind !== "move") throw new MalformedError(`not a move request (v ${MOVE_VERSION}, kind "move")`);
  if (typeof r.scope !== "string" || !NAME.test(r.scope)) throw new MalformedError("move request: scope must be a name ([A-Za-z0-9_-]+)");
  if (r.to != null && (typeof r.to !== "string" || !NAME.test(r.to))) throw new MalformedError("move request: to must be a region name ([A-Za-z0-9_-]+)");
  return { scope: r.scope, ...(typeof r.to === "string" ? { to: r.to } : {}), reason: r.reason === "failback" ? "failback" : "manual" };
}
const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Encodes the authority's reply: `ok` with the new holder, or not with an `error`. */
export function encodeMoveReply(r: Omit<MoveReply, "v" | "kind">): Uint8Array {
  const reply: MoveReply = { v: MOVE_VERSION, kind: "move-result", ok: r.ok, scope: r.scope, region: r.region, node: r.node, token: r.token, error: r.error };
  return packPlain(reply);
}

/**
 * Decodes a reply: a map with a boolean `ok` (the other fields are read as
 * sent). Throws {@link MalformedError}.
 */
export function decodeMoveReply(bytes: Uint8Array): MoveReply {
  const raw = unpackPlain(bytes);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw) || typeof (raw as { ok?: unknown }).ok !== "boolean") throw new MalformedError("malformed reply");
  return raw as MoveReply;
}
