/**
 * The CLI's conventions (README, "CLI"), on real `node bin/regent.js`
 * processes: `--version`; an environment variable for every option, listed
 * in `--help` and honoured (REGENT_LOG_LEVEL among them); an exit code per
 * kind of failure (2 usage, 3 config, 4 unavailable, 5 refused); and errors
 * as one JSON object on stderr under `--json` (or REGENT_JSON).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegentProcess } from "../../src/launcher/candidates.js";
import { startNatsServer, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import { unpackPlain } from "../../src/wire/msgpack.js";
import { subjects } from "../../src/wire/subjects.js";
import { encodeMoveReply } from "../../src/wire/move.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin", "regent.js");
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `regent <args>` with only the given REGENT_* / NATS_* variables (a developer's own are removed). */
function regent(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(REGENT_|NATS_)/.test(k) || /^REGENT_(TEST|NO_PDEATHSIG)/.test(k)));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The one JSON error line on stderr. */
function jsonError(r: Run): { code: string; message: string; exitCode: number } {
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  return (JSON.parse(lines[0]!) as { error: { code: string; message: string; exitCode: number } }).error;
}

describe.concurrent("version and help", () => {
  it("--version and -V print package.json's version and exit 0", async () => {
    for (const flag of ["--version", "-V"]) {
      const r = await regent([flag]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${VERSION}\n`);
    }
  });

  it("--help of every command shows an environment variable for every option", async () => {
    const top = await regent(["--help"]);
    expect(top.stdout).toMatch(/Exit codes: 0 ok, 1 failure, 2 usage, 3 config, 4 unavailable, 5 refused/);
    const commands = [...top.stdout.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]!).filter((c) => c !== "help");
    expect(commands.length).toBeGreaterThanOrEqual(14);
    for (const cmd of commands) {
      const r = await regent([cmd, "--help"]);
      expect(r.code, r.stderr).toBe(0);
      const options = r.stdout.slice(r.stdout.indexOf("Options:"));
      // One entry per option: its first line starts with "  -"; continuation lines are indented further.
      const entries = options.split(/\n(?= {2}-)/).slice(1).map((e) => e.replace(/\s+/g, " "));
      expect(entries.length, cmd).toBeGreaterThan(1);
      for (const e of entries) {
        if (e.startsWith(" -h, --help")) continue;
        expect(e, `regent ${cmd}`).toMatch(/env: (REGENT_[A-Z_]+|NATS_[A-Z]+)\)/);
      }
    }
  });
});

describe.concurrent("environment variables", () => {
  it("REGENT_<OPTION> sets an option (timing checked before connecting), and a flag wins over it", async () => {
    const r = await regent(["elect"], { REGENT_KEY: "k", REGENT_LEASE_MS: "1000", REGENT_RENEW_MS: "900" });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/^regent: renewMs: .*\[INVALID_CONFIG\]$/m);
    const flagWins = await regent(["elect", "--renew-ms", "300", "--servers", "notaurl"], { REGENT_KEY: "k", REGENT_LEASE_MS: "1000", REGENT_RENEW_MS: "900" });
    expect(flagWins.stderr).toMatch(/--servers: not a NATS URL/);
  });

  it("a bad value from the environment is a usage error naming the variable", async () => {
    const r = await regent(["elect", "--key", "k"], { REGENT_LEASE_MS: "soon" });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/value 'soon' from env 'REGENT_LEASE_MS' is invalid/);
  });

  it("REGENT_JSON=1 turns JSON errors on, REGENT_JSON=0 leaves them off", async () => {
    expect(jsonError(await regent(["bogus"], { REGENT_JSON: "1" })).code).toBe("USAGE");
    const off = await regent(["status", "--servers", "notaurl"], { REGENT_JSON: "0" });
    expect(off.stderr).toMatch(/^regent: --servers: not a NATS URL/);
  });
});

describe.concurrent("exit codes and JSON errors", () => {
  const cases: [string, string[], number, string, RegExp][] = [
    ["unknown command", ["bogus", "--json"], 2, "USAGE", /unknown command 'bogus'/],
    ["bad option value", ["up", "--mode", "medium", "--json"], 2, "USAGE", /'medium' is invalid/],
    ["missing required option", ["elect", "--json"], 2, "USAGE", /required option '-k, --key <key>'/],
    ["resign with neither target", ["resign", "--json"], 2, "USAGE", /exactly one of --region <name> or --global/],
    ["unknown drill scenario", ["drill", "meteor"], 2, "USAGE", /'meteor' is invalid/],
    // Both before any server starts: a config error, not a failed drill.
    ["unknown drill region", ["drill", "kill-region", "--region", "mars", "--json"], 3, "INVALID_CONFIG", /unknown region "mars" \(known: /],
    ["bad drill faketime rate", ["drill", "clock-skew", "--skew-out", "x0", "--json"], 3, "INVALID_CONFIG", /faketime: bad rate in "x0"/],
    ["unknown region", ["node", "--region", "mars", "--json"], 3, "INVALID_CONFIG", /unknown region "mars"/],
    ["unreadable regions", ["status", "--regions", "/nonexistent", "--json"], 3, "INVALID_CONFIG", /cannot read topology directory/],
    ["missing nkey file", ["status", "--nkey", "/nonexistent.nk", "--json"], 3, "INVALID_CONFIG", /--nkey: cannot read/],
    ["log level", ["elect", "--key", "k", "--log-level", "loud"], 2, "USAGE", /'loud' is invalid/],
    ["nothing listening", ["status", "--servers", "nats://127.0.0.1:1", "--json"], 4, "STORE_UNAVAILABLE", /cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/],
  ];
  for (const [name, args, exit, code, message] of cases) {
    it(`${name}: exit ${exit}`, async () => {
      const r = await regent(args);
      expect(r.code, r.stderr).toBe(exit);
      expect(r.stdout).toBe("");
      if (args.includes("--json")) {
        const e = jsonError(r);
        expect(e).toMatchObject({ code, exitCode: exit });
        expect(e.message).toMatch(message);
      } else {
        expect(r.stderr).toMatch(message);
      }
    });
  }
});

describe("exit codes against a nats-server", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("no node answers status: 4 (unavailable, worth a retry)", async () => {
    const r = await regent(["status", "--servers", server.url, "--timeout-ms", "300", "--json"]);
    expect(r.code, r.stderr).toBe(4);
    expect(jsonError(r)).toMatchObject({ code: "STORE_UNAVAILABLE", exitCode: 4 });
  });

  it("the lease authority declines a move: 5 (refused)", async () => {
    // A lease authority speaking docs/wire.md's move protocol that says no.
    const sub = nc.subscribe(subjects("demo").scopeMove, {
      callback: (_err, m) => {
        const req = unpackPlain(m.data) as { scope: string };
        m.respond(encodeMoveReply({ ok: false, scope: req.scope, error: "target region mars has no live regional leader" }));
      },
    });
    await nc.flush();
    try {
      const human = await regent(["failover", "eu-west", "--to", "mars", "--servers", server.url]);
      expect(human.code, human.stderr).toBe(5);
      expect(human.stderr).toBe("regent: move of eu-west refused: target region mars has no live regional leader [REFUSED]\n");
      const json = await regent(["failback", "eu-west", "--servers", server.url, "--json"]);
      expect(json.code).toBe(5);
      expect(jsonError(json)).toEqual({ code: "REFUSED", exitCode: 5, message: "move of eu-west refused: target region mars has no live regional leader" });
    } finally {
      sub.unsubscribe();
    }
  });

  it("REGENT_LOG_LEVEL sets the log level", async () => {
    const cand = new RegentProcess("cand-env", ["elect", "--json", "--key", "env.level", "--id", "cand-env", "--servers", server.url], {
      env: { ...process.env, REGENT_LOG_LEVEL: "debug" },
    });
    try {
      await cand.waitForEvent((e) => e.type === "elected", { timeoutMs: 30_000 });
    } finally {
      await cand.stop();
    }
    // "elected" is logged at info, below elect's default level (warn).
    expect(cand.stderr).toMatch(/"level":30,.*"msg":"elected"/);
  });
});
