/**
 * An event subscriber independent of regent and of nats.js: Python speaking
 * the raw NATS protocol over a socket and decoding with `msgpack` (Debian
 * python3-msgpack). It counts deliveries per event identity
 * (subject | kind | node | token — the fields of the events' message id) and
 * records the `Nats-Sequence` header of each delivery.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { connect } from "@nats-io/transport-node";
import { waitFor } from "../../src/launcher/nats-launcher.js";

/** First interpreter that can `import msgpack`, or undefined. */
export const PYTHON = ["/usr/bin/python3", "python3"].find((p) => spawnSync(p, ["-c", "import msgpack"]).status === 0);

const SCRIPT = String.raw`
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
    if not parts:
        continue
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
    try:
        ev = msgpack.unpackb(payload, raw=False)
    except Exception:
        continue
    if not isinstance(ev, dict):
        continue
    key = "%s|%s|%s|%s" % (subj, ev.get("kind"), ev.get("node"), ev.get("token"))
    counts[key] = counts.get(key, 0) + 1
    stream, seq = "", None
    for h in hdr.split("\r\n"):
        if h.lower().startswith("nats-sequence:"):
            seq = int(h.split(":", 1)[1])
        elif h.lower().startswith("nats-stream:"):
            stream = h.split(":", 1)[1].strip()
    if seq is not None:
        seqs.append([stream, seq])
print(json.dumps({"counts": counts, "seqs": seqs}), flush=True)
`;

export interface PythonCounts {
  /** Deliveries per `subject|kind|node|token`. */
  counts: Record<string, number>;
  /** `[Nats-Stream, Nats-Sequence]` of each delivery, in arrival order (each region has its own events stream). */
  seqs: [string, number][];
}

export interface PythonSubscriber {
  /** Ends the subscription (through a marker message) and returns what it counted. */
  finish(): Promise<PythonCounts>;
  kill(): void;
}

/** Starts the subscriber on the server at `url` and resolves once it is subscribed. */
export async function startPythonSubscriber(url: string, subject: string): Promise<PythonSubscriber> {
  if (!PYTHON) throw new Error("python3 with msgpack (Debian python3-msgpack) is required");
  const u = new URL(url);
  const done = `test.done.${process.pid}.${Math.random().toString(36).slice(2)}`;
  const py: ChildProcess = spawn(PYTHON, ["-c", SCRIPT, u.hostname, u.port, subject, done], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  py.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => py.once("exit", () => r()));
  await waitFor(() => out.includes("READY"), { timeoutMs: 10_000, what: "python subscriber ready" });
  return {
    async finish() {
      const nc = await connect({ servers: url });
      nc.publish(done);
      await nc.flush();
      await nc.close();
      await exited;
      return JSON.parse(out.slice(out.indexOf("{"))) as PythonCounts;
    },
    kill: () => py.kill("SIGKILL"),
  };
}
