/**
 * `regent status`, `regent watch`, `regent resign`, `regent failover` and
 * `regent failback`: plain NATS clients of the subjects in docs/wire.md
 * (wire/requests.ts) — anything they do, any NATS client can do.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { InvalidArgumentError } from "commander";
import { decodeEvent, type LeaseRow, type StateSnapshot, type WireEvent } from "../wire/events.js";
import { requestMove, requestResign, requestState } from "../wire/requests.js";
import { subjects } from "../wire/subjects.js";
import { authOf, onShutdown, serverList } from "./common.js";
import { connectNats } from "../util/nats-connect.js";
import type { NatsAuth } from "../util/nats-auth.js";
import { textTable } from "./table.js";

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

export async function runResign(opts: BusOptions & { region?: string; global?: boolean }): Promise<void> {
  if (!!opts.region === !!opts.global) throw new InvalidArgumentError(`resign: give exactly one of --region <name> or --global (got ${opts.global ? "both" : "neither"})`);
  await withConnection(opts, async (nc) => {
    const e = await requestResign(nc, opts.cluster, opts, opts.timeoutMs);
    process.stdout.write(opts.json ? jsonLine(e) : `resigned: ${"node" in e ? e.node : "?"}\n`);
  });
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
