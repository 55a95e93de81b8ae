/**
 * `regent status`, `regent watch` and `regent resign`: plain NATS clients of
 * the subjects in docs/wire.md — anything they do, any NATS client can do.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { InvalidArgumentError } from "commander";
import { MalformedError, RefusedError, StoreUnavailableError } from "../errors.js";
import { decodeEvent, type LeaseRow, type StateSnapshot, type WireEvent } from "../wire/events.js";
import { subjects } from "../wire/subjects.js";
import { authOf, connectNats, onShutdown, serverList } from "./common.js";
import type { NatsAuth } from "../util/nats-auth.js";
import { textTable } from "./table.js";
import { waitFor } from "../launcher/ports.js";

export interface BusOptions extends NatsAuth {
  servers?: string;
  cluster: string;
  json?: boolean;
  timeoutMs?: number;
}

async function withConnection<T>(opts: BusOptions, fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connectNats(serverList(opts.servers), "regent-cli", { auth: authOf(opts) });
  try {
    return await fn(nc);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** Asks any node for the current state (request/reply, queue group). */
/**
 * Waits until the global lease and every scope (`scopes`) are held and on
 * every quorum store (status rows with `agree` = `stores`). A holder on a
 * bare majority (a store not takeable at the grant, caught up a lease or so
 * later) loses its term with one more store; faults that must move nothing
 * else start from here. Polls `state` every 200 ms.
 */
export async function untilQuorumSettled(nc: NatsConnection, cluster: string, scopes: readonly string[], timeoutMs = 30_000, signal?: AbortSignal): Promise<void> {
  let last = "";
  await waitFor(
    async () => {
      const s = await requestState(nc, cluster, 2_000).catch(() => undefined);
      if (!s) return false;
      const rows = [["global", s.global] as const, ...scopes.map((n) => [n, s.scopes[n]] as const)];
      last = rows.map(([name, r]) => `${name} ${r?.quorum ? `${r.quorum.agree}/${r.quorum.stores}` : (r?.state ?? "?")}`).join(", ");
      return rows.every(([, r]) => r?.state === "held" && !!r.quorum && r.quorum.agree === r.quorum.stores);
    },
    { timeoutMs, intervalMs: 200, what: "every quorum store to carry the global lease and every scope", ...(signal ? { signal } : {}) },
  ).catch((err: Error) => {
    throw new Error(`${err.message} (last seen: ${last})`, { cause: err });
  });
}

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

/** `, 2/3 stores` when a quorum row's stores do not all agree (a store down, or behind). */
const agreement = (r: LeaseRow) => (r.quorum && r.quorum.agree < r.quorum.stores ? `, ${r.quorum.agree}/${r.quorum.stores} stores` : "");
const cell = (r: LeaseRow) =>
  r.state === "held"
    ? `${r.node ?? "?"} (token ${r.token}${r.ageMs !== null ? `, ${r.ageMs} ms ago` : ""}${agreement(r)})`
    : `${r.state}${r.state === "unreachable" && r.quorum ? ` (${r.quorum.answered}/${r.quorum.stores} stores answered)` : agreement(r) ? ` (${agreement(r).slice(2)})` : ""}`;

/** Renders a snapshot as readable tables (columns as wide as their longest cell). */
export function renderState(s: StateSnapshot): string {
  const roles = [["global", cell(s.global)], ...Object.entries(s.regions).sort().map(([region, row]) => [`region ${region}`, cell(row)])];
  const lines = [`deployment ${s.cluster}   (answered by ${s.answeredBy})`, "", textTable(["ROLE", "HOLDER"], roles)];
  const scopes = Object.entries(s.scopes ?? {}).sort();
  if (scopes.length) {
    const rows = scopes.map(([name, row]) => [name, row.home, row.region ?? "-", `${cell(row)}${row.pinned ? `  pinned: ${row.pinned}` : ""}`]);
    lines.push("", textTable(["SCOPE", "HOME", "HOLDER REGION", "HOLDER"], rows));
  }
  return lines.join("\n");
}

export async function runStatus(opts: BusOptions): Promise<void> {
  const s = await withConnection(opts, (nc) => requestState(nc, opts.cluster, opts.timeoutMs));
  process.stdout.write(opts.json ? jsonLine(s) : renderState(s) + "\n");
}

/** One JSON line; 64-bit integers from other producers (BigInt) are written as strings. */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)) + "\n";
}

/** Wall-clock display of an event's `at`; a value no Date can hold is shown as is. */
function iso(at: number): string {
  const d = new Date(at);
  return Number.isNaN(d.getTime()) ? `at=${at}` : d.toISOString();
}

/** One line per event; readable or JSON. */
export function renderEvent(subject: string, e: WireEvent): string {
  switch (e.kind) {
    case "elected":
    case "deposed":
      return `${iso(e.at)} ${e.tier === "global" ? "global" : `region ${e.region}`} ${e.kind.toUpperCase()} ${e.node} token=${e.token}${e.reason ? ` reason=${e.reason}` : ""}${e.previous ? ` previous=${e.previous.node}/${e.previous.token}` : ""}`;
    case "granted":
    case "held":
    case "lapsed":
    case "released":
      return `${iso(e.at)} scope ${e.scope} ${e.kind.toUpperCase()} ${e.region}/${e.node} token=${e.token}${e.reason ? ` reason=${e.reason}` : ""}`;
    default:
      return `${subject} ${e.kind}`;
  }
}

export async function runWatch(opts: BusOptions & { signal?: AbortSignal; replay?: boolean }): Promise<void> {
  const nc = await connectNats(serverList(opts.servers), "regent-watch", { auth: authOf(opts) });
  const sub = nc.subscribe(subjects(opts.cluster).all);
  if (opts.replay) {
    // History first (every region's events stream that answers), then live; live events already replayed are skipped by the reader.
    const { readEventsStream } = await import("../hierarchy/events-stream.js");
    for (const { subject, event } of await readEventsStream(nc, opts.cluster)) {
      process.stdout.write(opts.json ? jsonLine({ subject, ...event }) : renderEvent(subject, event) + "\n");
    }
  }
  onShutdown(async () => {
    sub.unsubscribe();
    await nc.close().catch(() => undefined);
  });
  opts.signal?.addEventListener("abort", () => sub.unsubscribe());
  for await (const m of sub) {
    if (m.subject.endsWith(".resign") || m.subject.endsWith(".state") || m.subject.endsWith(".move")) continue;
    let e: WireEvent;
    try {
      e = decodeEvent(m.data);
    } catch (err) {
      process.stderr.write(`regent: undecodable message on ${m.subject}: ${(err as Error).message}\n`);
      continue;
    }
    process.stdout.write(opts.json ? jsonLine({ subject: m.subject, ...e }) : renderEvent(m.subject, e) + "\n");
  }
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

export async function runResign(opts: BusOptions & { region?: string; global?: boolean }): Promise<void> {
  if (!!opts.region === !!opts.global) throw new InvalidArgumentError(`resign: give exactly one of --region <name> or --global (got ${opts.global ? "both" : "neither"})`);
  await withConnection(opts, async (nc) => {
    const e = await requestResign(nc, opts.cluster, opts, opts.timeoutMs);
    process.stdout.write(opts.json ? jsonLine(e) : `resigned: ${"node" in e ? e.node : "?"}\n`);
  });
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
  const { packPlain, unpackPlain } = await import("../wire/msgpack.js");
  const subject = subjects(cluster).scopeMove;
  let reply: MoveOutcome;
  try {
    const m = await nc.request(subject, packPlain({ v: 1, kind: "move", scope: req.scope, to: req.to, reason: req.reason }), { timeout: timeoutMs });
    const raw = unpackPlain(m.data);
    if (typeof raw !== "object" || raw === null || Array.isArray(raw) || typeof (raw as { ok?: unknown }).ok !== "boolean") throw new Error("malformed reply");
    reply = raw as MoveOutcome;
  } catch (err) {
    throw refusedOr(subject, err, "no lease authority answered");
  }
  if (!reply.ok) throw new RefusedError(`move of ${req.scope} refused: ${reply.error}`);
  return reply;
}

/** `regent failover <scope> --to <region>` and `regent failback <scope>`: ask the lease authority. */
export async function runMove(opts: BusOptions & { scope: string; to?: string; reason: "manual" | "failback" }): Promise<void> {
  await withConnection(opts, async (nc) => {
    const reply = await requestMove(nc, opts.cluster, opts, opts.timeoutMs);
    // A manual move away from home is pinned there (docs/scopes.md): say how it ends.
    const pin = opts.reason === "manual" && reply.region !== opts.scope ? `; pinned: manual, no automatic failback until \`regent failback ${opts.scope}\`` : "";
    process.stdout.write(opts.json ? jsonLine(reply) : `scope ${opts.scope} now held by ${reply.region}/${reply.node} (token ${reply.token})${pin}\n`);
  });
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
