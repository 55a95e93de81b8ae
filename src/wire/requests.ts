/**
 * Requests to a running deployment over the subjects in docs/wire.md — the
 * state snapshot, a resignation, a scope move — as any NATS client can make
 * them. The CLI (`regent status`, `resign`, `failover`), the dashboard and
 * the drills all ask through these.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { MalformedError, RefusedError, StoreUnavailableError } from "../errors.js";
import { decodeEvent, type StateSnapshot, type WireEvent } from "./events.js";
import { packPlain, unpackPlain } from "./msgpack.js";
import { subjects } from "./subjects.js";

/** Asks any node for the current state (request/reply, queue group). */
export async function requestState(nc: NatsConnection, cluster: string, timeoutMs = 3_000): Promise<StateSnapshot> {
  const subject = subjects(cluster).state;
  let data: Uint8Array;
  try {
    data = (await nc.request(subject, new Uint8Array(), { timeout: timeoutMs })).data;
  } catch (err) {
    if (isPermission(err)) throw new RefusedError(`${subject}: refused by NATS (${(err as Error).message})`, { cause: err });
    throw new StoreUnavailableError(`no regent node answered ${subject} within ${timeoutMs} ms (${(err as Error).message}); is a deployment running? (regent up)`, { cause: err });
  }
  const e = decodeEvent(data);
  if (e.kind !== "state") throw new MalformedError(`unexpected reply kind ${e.kind} on ${subject}`);
  return e;
}

/** Asks the leader of a region (or the global leader) to resign; resolves with its acknowledgement. */
export async function requestResign(nc: NatsConnection, cluster: string, who: { region?: string; global?: boolean }, timeoutMs = 5_000): Promise<WireEvent> {
  const s = subjects(cluster);
  const subject = who.global ? s.globalResign : s.regionResign(who.region!);
  try {
    const m = await nc.request(subject, new Uint8Array(), { timeout: timeoutMs });
    return decodeEvent(m.data);
  } catch (err) {
    throw refusedOr(subject, err, "no leader answered");
  }
}

/** Reply of the lease authority to a move request. */
export interface MoveOutcome {
  ok: boolean;
  error?: string;
  scope?: string;
  region?: string;
  node?: string;
  token?: number;
}

/** Asks the lease authority (the global leader) to move a scope; throws when none answers or it refuses. */
export async function requestMove(nc: NatsConnection, cluster: string, req: { scope: string; to?: string; reason: "manual" | "failback" }, timeoutMs = 15_000): Promise<MoveOutcome> {
  const subject = subjects(cluster).scopeMove;
  let reply: MoveOutcome;
  try {
    const m = await nc.request(subject, packPlain({ v: 1, kind: "move", scope: req.scope, to: req.to, reason: req.reason }), { timeout: timeoutMs });
    const raw = unpackPlain(m.data);
    if (typeof raw !== "object" || raw === null || Array.isArray(raw) || typeof (raw as { ok?: unknown }).ok !== "boolean") throw new MalformedError("malformed reply");
    reply = raw as MoveOutcome;
  } catch (err) {
    throw refusedOr(subject, err, "no lease authority answered");
  }
  if (!reply.ok) throw new RefusedError(`move of ${req.scope} refused: ${reply.error}`);
  return reply;
}

const isPermission = (err: unknown) => /permissions violation/i.test((err as Error).message);

/**
 * A request the server refused to carry says so (and who may send it):
 * refused (exit 5). Anything else is "nobody answered": unavailable (exit 4).
 */
function refusedOr(subject: string, err: unknown, otherwise: string): Error {
  const msg = (err as Error).message;
  if (isPermission(err)) return new RefusedError(`${subject}: refused by NATS (${msg}); resign, failover and failback need the operator identity (--nkey/--creds)`, { cause: err });
  return new StoreUnavailableError(`${otherwise} on ${subject}: ${msg}`, { cause: err });
}
