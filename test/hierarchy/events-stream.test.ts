/**
 * Events reach live subscribers once, even when the stream append is retried.
 *
 * The subscriber is independent of regent and of nats.js: Python speaking the
 * raw NATS protocol over a socket and decoding with `msgpack` (Debian
 * python3-msgpack). The fault is real: the nats-server is frozen with SIGSTOP
 * while the publisher's append is in flight, so its ack never comes and the
 * publisher retries; after SIGCONT the server sees every attempt.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureEventsStream, EventPublisher, readEventsStream } from "../../src/hierarchy/events-stream.js";
import { startNatsServer, waitFor, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import type { LeaderEvent } from "../../src/wire/events.js";

const PY = ["/usr/bin/python3", "python3"].find((p) => spawnSync(p, ["-c", "import msgpack"]).status === 0);

/** Counts deliveries per (subject, kind, token) until it sees `DONE_SUBJECT`; prints JSON. */
const SUBSCRIBER = String.raw`
import socket, sys, json, msgpack
host, port, subject, done = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.create_connection((host, port))
f = s.makefile("rb")
f.readline()  # INFO
s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\nSUB ' + subject.encode() + b' 1\r\nSUB ' + done.encode() + b' 2\r\nPING\r\n')
counts, seqs = {}, []
while True:
    line = f.readline()
    if not line:
        break
    parts = line.decode().split()
    if parts[0] == "PING":
        s.sendall(b"PONG\r\n"); continue
    if parts[0] == "PONG":
        print("READY", flush=True); continue
    if parts[0] not in ("MSG", "HMSG"):
        continue
    subj = parts[1]
    if parts[0] == "MSG":
        hlen, total = 0, int(parts[-1])
    else:
        hlen, total = int(parts[-2]), int(parts[-1])
    raw = f.read(total + 2)[:total]
    if subj == done:
        break
    hdr, payload = raw[:hlen].decode(errors="replace"), raw[hlen:]
    ev = msgpack.unpackb(payload, raw=False)
    key = "%s|%s|%s" % (subj, ev.get("kind"), ev.get("token"))
    counts[key] = counts.get(key, 0) + 1
    for h in hdr.split("\r\n"):
        if h.lower().startswith("nats-sequence:"):
            seqs.append(int(h.split(":", 1)[1]))
print(json.dumps({"counts": counts, "seqs": seqs}), flush=True)
`;

const CLUSTER = "once";
let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  await ensureEventsStream(nc, CLUSTER, 1, { placement: false });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

function elected(token: number): LeaderEvent {
  return { v: 1, kind: "elected", tier: "region", cluster: CLUSTER, region: "eu-west", node: "eu-west-1", token, leaseMs: 2000, at: Date.now() };
}

describe.skipIf(!PY && !process.env.CI)("events stream", () => {
  it("a live subscriber gets each event once although the append was retried", async () => {
    expect(PY, "python3 with msgpack (Debian python3-msgpack) is required in CI").toBeTruthy();
    const port = new URL(server.url).port;
    const py: ChildProcess = spawn(PY!, ["-c", SUBSCRIBER, "127.0.0.1", port, `regent.${CLUSTER}.>`, "test.done"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    py.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    await waitFor(async () => out.includes("READY"), { timeoutMs: 10_000, what: "python subscriber ready" });

    const publisher = new EventPublisher(nc, CLUSTER);
    publisher.publish(elected(1));
    await waitFor(async () => publisher.published === 1, { timeoutMs: 10_000, what: "first event acked" });

    // Freeze the server with the next append in flight: its ack is lost and the publisher retries.
    const pid = server.servers[0]!.pid!;
    process.kill(pid, "SIGSTOP");
    try {
      publisher.publish(elected(2));
      await waitFor(async () => publisher.attempts >= 3, { timeoutMs: 20_000, what: "two retries of the append" });
    } finally {
      process.kill(pid, "SIGCONT");
    }
    await waitFor(async () => publisher.published === 2, { timeoutMs: 20_000, what: "second event acked" });
    nc.publish("test.done");
    await nc.flush();
    const exited = new Promise((r) => py.once("exit", r));
    await exited;

    const result = JSON.parse(out.slice(out.indexOf("{"))) as { counts: Record<string, number>; seqs: number[] };
    expect(publisher.attempts).toBeGreaterThanOrEqual(3);
    expect(result.counts).toEqual({
      [`regent.${CLUSTER}.region.eu-west.leader|elected|1`]: 1,
      [`regent.${CLUSTER}.region.eu-west.leader|elected|2`]: 1,
    });
    // Republished messages carry the stream sequence: a subscriber can spot gaps.
    expect(result.seqs).toEqual([1, 2]);

    // The stream holds each event once, under its live subject.
    const stored = await readEventsStream(nc, CLUSTER);
    expect(stored.map((s) => [s.subject, s.event.kind, (s.event as LeaderEvent).token])).toEqual([
      [`regent.${CLUSTER}.region.eu-west.leader`, "elected", 1],
      [`regent.${CLUSTER}.region.eu-west.leader`, "elected", 2],
    ]);
  });

  it("creates the stream with the capture subtree republished onto the live subjects", async () => {
    const { jetstreamManager } = await import("@nats-io/jetstream");
    const c = (await (await jetstreamManager(nc)).streams.info(`regent-log-${CLUSTER}`)).config;
    expect(c.subjects).toEqual([`regent-log.${CLUSTER}.>`]);
    expect(c.republish).toMatchObject({ src: `regent-log.${CLUSTER}.>`, dest: `regent.${CLUSTER}.>` });
  });
});
