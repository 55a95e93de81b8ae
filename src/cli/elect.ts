/**
 * `regent elect`: stand as a candidate in one election and report every event
 * as a line (JSON with `--json`). Used by the demo, the integration tests and
 * the benchmarks as the "separate OS process" participant; like
 * `etcdctl elect`, it is also handy on its own.
 *
 * Standard input accepts `resign` and `stop` lines. SIGTERM/SIGINT resign
 * gracefully before exiting.
 */
import { createInterface } from "node:readline";
import { startActLog } from "./act-log.js";
import { startElection, type ElectionEvent } from "../election/election.js";
import { NatsLeaseStore } from "../lease/nats-store.js";
import { createLogger } from "../observability/logger.js";
import { IntervalRecorder } from "../observability/oracle.js";
import { monotonicNowMs } from "../util/clock.js";
import { authOf, onShutdown, serverList } from "./common.js";
import { connectNats } from "../util/nats-connect.js";
import type { NatsAuth } from "../util/nats-auth.js";
import type { HopTrace } from "./trace-store.js";

export interface ElectOptions extends NatsAuth {
  servers?: string;
  bucket: string;
  key: string;
  id?: string;
  leaseMs?: number;
  renewMs?: number;
  maxDrift?: number;
  replicas?: number;
  json?: boolean;
  /** Leadership intervals for the split-brain oracle. */
  intervals?: string;
  /** Every `--act-every` ms while leader, append `{t, token}` here: the "work" a leader does. */
  actLog?: string;
  actEvery?: number;
  logLevel?: string;
  /** Print `hop` lines (store writes, reads and watch deliveries, stamped): see trace-store.ts. */
  traceHandover?: boolean;
}

export async function runElect(opts: ElectOptions): Promise<void> {
  const servers = serverList(opts.servers);
  const log = createLogger({ level: (opts.logLevel as never) ?? "warn", name: "regent-elect" });
  const nc = await connectNats(servers, `regent-elect-${opts.id ?? process.pid}`, { auth: authOf(opts) });
  const store = await NatsLeaseStore.openRetrying(nc, { bucket: opts.bucket, replicas: opts.replicas ?? 1 }, (err, attempt) =>
    (attempt === 1 ? log.warn : log.debug).call(log, { bucket: opts.bucket, attempt, err: err.message }, "bucket not available yet; retrying"),
  );
  const trace: HopTrace | null = opts.traceHandover
    ? new (await import("./trace-store.js")).HopTrace((hops) => {
        for (const h of hops) process.stdout.write(JSON.stringify({ type: "hop", ...h, id: election.id }) + "\n");
      })
    : null;
  const election = startElection({
    store: trace ? trace.wrap(store) : store,
    key: opts.key,
    logger: log,
    ...(opts.id ? { id: opts.id } : {}),
    ...(opts.leaseMs ? { leaseMs: opts.leaseMs } : {}),
    ...(opts.renewMs ? { renewMs: opts.renewMs } : {}),
    ...(opts.maxDrift !== undefined ? { maxDrift: opts.maxDrift } : {}),
  });
  const recorder = opts.intervals ? new IntervalRecorder(opts.intervals) : null;
  const print = (e: ElectionEvent | { type: "ready" } | { type: "stopped" }) => {
    const line = { ...e, id: election.id, t: monotonicNowMs() } as Record<string, unknown>;
    if ("error" in line) line.error = String((line.error as Error)?.message ?? line.error);
    process.stdout.write(opts.json ? JSON.stringify(line) + "\n" : human(line) + "\n");
  };

  let validUntil = 0;
  election.on((e) => {
    if (e.type === "elected") {
      validUntil = e.validUntil;
      recorder?.started(opts.key, election.id, e.token, e.validUntil);
    } else if (e.type === "renewed") {
      validUntil = e.validUntil;
      recorder?.extended(opts.key, election.id, e.token, e.validUntil);
    } else if (e.type === "deposed") {
      // A holder stops acting at its deadline at the latest, even if it only
      // learns of the lapse later (paused process): record what it did.
      recorder?.ended(opts.key, election.id, e.token, Math.min(e.at, validUntil));
    }
    if (e.type !== "renewed" || opts.json) print(e);
  });

  // The guarded work: act only while the deadline says so (act-log.ts).
  if (opts.actLog) {
    const role = () => {
      const l = election.leadership();
      return { held: !!l, token: l?.token ?? null };
    };
    startActLog(opts.actLog, election.id, () => [{ role }], opts.actEvery ?? 5);
  }

  const shutdown = async () => {
    await election.stop({ signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
    trace?.drain();
    print({ type: "stopped" });
    recorder?.close();
    await nc.close().catch(() => undefined);
  };
  onShutdown(shutdown);
  createInterface({ input: process.stdin }).on("line", (line) => {
    const cmd = line.trim();
    if (cmd === "resign") {
      trace?.stamp({ hop: "resign-received" });
      void election.resign().catch(() => undefined);
    }
    else if (cmd === "stop") void shutdown().finally(() => process.exit(0));
  });
  print({ type: "ready" });
}

function human(l: Record<string, unknown>): string {
  const t = (l.t as number).toFixed(1);
  switch (l.type) {
    case "elected":
      return `${t} ${l.id} ELECTED token=${l.token}`;
    case "deposed":
      return `${t} ${l.id} DEPOSED token=${l.token} reason=${l.reason}`;
    case "leader-changed":
      return `${t} ${l.id} sees leader=${l.leader ?? "-"} token=${l.token ?? "-"}`;
    default:
      return `${t} ${l.id} ${String(l.type)}${l.error ? ` ${l.op}: ${l.error}` : ""}`;
  }
}
