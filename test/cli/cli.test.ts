/**
 * The `regent` command line as a user meets it: real child processes of
 * `node bin/regent.js`. Help exits 0; bad input exits non-zero with one line
 * on stderr, `regent: <problem>`, never a stack trace; and `regent up --once`
 * runs the whole local deployment from regions/ and leaves nothing behind.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import { RegentProcess } from "../../src/launcher/candidates.js";
import { loadTopology } from "../../src/topology/load.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin", "regent.js");

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  pid: number;
}

/**
 * Runs `regent <args>` from the repository root, SIGKILLed after
 * `timeoutMs`. NATS_URL is removed so a developer's environment cannot
 * change which server a command talks to. `onSpawn` sees the child's pid.
 */
function regent(args: string[], opts: { timeoutMs?: number; onSpawn?: (pid: number) => void; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  const env = { ...process.env, ...opts.env };
  delete env.NATS_URL;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 20_000);
    child.once("error", reject);
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0, pid: child.pid ?? -1 });
    });
  });
}

/** Asserts a clean failure: non-zero exit, one stderr line `regent: …` matching `problem`, no stack trace. */
function expectCleanFailure(r: Run, problem: RegExp): void {
  const detail = `stderr: ${r.stderr}\nstdout: ${r.stdout}`;
  expect(r.signal, `killed by timeout? ${detail}`).toBeNull();
  expect(r.code, detail).not.toBe(0);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines, detail).toHaveLength(1);
  expect(lines[0], detail).toMatch(/^regent: /);
  expect(lines[0], detail).toMatch(problem);
  expect(r.stderr, detail).not.toMatch(/^\s+at /m);
}

describe.concurrent("--help", () => {
  for (const cmd of ["elect", "demo", "up", "node", "status", "watch", "resign", "compose", "access", "region", "dashboard"]) {
    it(`regent ${cmd} --help prints usage and exits 0`, async () => {
      const r = await regent([cmd, "--help"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: regent ${cmd} `));
      expect(r.stderr).toBe("");
    });
  }
  it("regent --help lists every subcommand", async () => {
    const r = await regent(["--help"]);
    expect(r.code).toBe(0);
    for (const cmd of ["elect", "demo", "up", "node", "status", "watch", "resign", "compose", "access", "region", "dashboard"]) expect(r.stdout).toMatch(new RegExp(`^  ${cmd}\\b`, "m"));
  });
});

describe.concurrent("bad input fails with one clear line", () => {
  const cases: [string, string[], RegExp][] = [
    ["unknown command", ["bogus"], /unknown command 'bogus'/],
    ["elect without --key", ["elect"], /required option '-k, --key <key>' not specified/],
    ["--lease-ms abc", ["elect", "--key", "k", "--lease-ms", "abc"], /--lease-ms.*'abc' is invalid.*positive whole number of milliseconds/],
    ["--lease-ms 0", ["elect", "--key", "k", "--lease-ms", "0"], /--lease-ms.*'0' is invalid.*positive whole number of milliseconds/],
    ["--servers notaurl (elect)", ["elect", "--key", "k", "--servers", "notaurl"], /--servers: not a NATS URL: "notaurl"/],
    ["--servers notaurl (status)", ["status", "--servers", "notaurl"], /--servers: not a NATS URL: "notaurl"/],
    ["up --mode medium", ["up", "--mode", "medium"], /--mode.*'medium' is invalid.*light, full/],
    ["node --region mars", ["node", "--region", "mars"], /unknown region "mars".*regions\/mars\.json.*known: ap-south, eu-west, us-east/],
    ["status --regions /nonexistent", ["status", "--regions", "/nonexistent"], /\/nonexistent: .*cannot read topology directory/],
    ["up --regions /nonexistent", ["up", "--once", "--regions", "/nonexistent"], /\/nonexistent: .*cannot read topology directory/],
    ["node --regions /nonexistent", ["node", "--region", "eu-west", "--regions", "/nonexistent"], /\/nonexistent: .*cannot read topology directory/],
    ["compose --regions /nonexistent", ["compose", "--check", "--regions", "/nonexistent"], /\/nonexistent: .*cannot read topology directory/],
    // Timing is validated before connecting, so no server is needed to see it.
    ["elect --lease-ms 1000 --renew-ms 900", ["elect", "--key", "k", "--lease-ms", "1000", "--renew-ms", "900"], /renewMs: .*must be at least 2 × renewMs.*\[INVALID_CONFIG\]/],
    ["resign --region and --global", ["resign", "--region", "eu-west", "--global"], /exactly one of --region <name> or --global \(got both\)/],
    ["resign with neither", ["resign"], /exactly one of --region <name> or --global \(got neither\)/],
    ["--nkey of a missing file", ["status", "--nkey", "/nonexistent.nk"], /--nkey: cannot read \/nonexistent\.nk: ENOENT/],
    ["--creds and --nkey", ["status", "--creds", "/a.creds", "--nkey", "/b.nk"], /give one of --creds, --nkey or --user\/--password, not --creds and --nkey/],
    ["--tls-cert without --tls-key", ["status", "--tls-cert", "/c.pem"], /--tls-key: --tls-cert and --tls-key go together/],
    ["node without --region", ["node"], /required option '--region <name>' not specified/],
    ["node kill without an id", ["node", "kill"], /node kill: missing the node id/],
    ["region explode", ["region", "explode", "eu-west"], /'explode' is invalid.*kill, pause, resume, restart/],
    ["node --metrics-address without a port", ["node", "--region", "eu-west", "--metrics-address", "0.0.0.0"], /--metrics-address.*expected <host>:<port> \(e\.g\. 0\.0\.0\.0:9464\), got "0\.0\.0\.0"/],
    ["node --metrics-address and --metrics-port", ["node", "--region", "eu-west", "--metrics-address", "127.0.0.1:9464", "--metrics-port", "9465"], /give --metrics-address or --metrics-port, not both/],
    ["region kill without a running up", ["region", "kill", "eu-west", "--control", "/nonexistent/control.json"], /no running `regent up` found \(no control file \/nonexistent\/control\.json\)/],
  ];
  for (const [name, args, problem] of cases) {
    it(name, async () => expectCleanFailure(await regent(args), problem));
  }
});

// ---- credentials stay secret ------------------------------------------------

const SECRET = "s3cr3t-pa55-do-not-print";

describe.concurrent("credential options", () => {
  for (const cmd of ["elect", "node", "status", "watch", "resign", "failover", "failback"]) {
    it(`regent ${cmd} --help lists them with their environment variables, and no value`, async () => {
      const r = await regent([cmd, "--help"], { env: { NATS_PASSWORD: SECRET, NATS_USER: SECRET, NATS_NKEY: SECRET, NATS_CREDS: SECRET } });
      expect(r.code, r.stderr).toBe(0);
      for (const [flag, env] of [
        ["--creds <file>", "NATS_CREDS"],
        ["--nkey <file>", "NATS_NKEY"],
        ["--user <user>", "NATS_USER"],
        ["--password <password>", "NATS_PASSWORD"],
        ["--tls-ca <file>", "NATS_CA"],
        ["--tls-cert <file>", "NATS_CERT"],
        ["--tls-key <file>", "NATS_KEY"],
      ]) {
        // commander wraps long help lines: compare with runs of white space folded.
        const help = r.stdout.replace(/\s+/g, " ");
        expect(help).toContain(flag);
        expect(help).toContain(`env: ${env}`);
      }
      expect(r.stdout + r.stderr).not.toContain(SECRET);
    });
  }
});

describe("against a nats-server with no regent node", () => {
  let server: NatsServerHandle;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("a password, given by flag, environment or URL, appears in no output", async () => {
    const port = new URL(server.url).port;
    const runs = [
      await regent(["status", "--servers", server.url, "--user", "u", "--password", SECRET, "--timeout-ms", "500"], { timeoutMs: 15_000 }),
      await regent(["status", "--servers", server.url, "--timeout-ms", "500"], { timeoutMs: 15_000, env: { NATS_USER: "u", NATS_PASSWORD: SECRET } }),
      // Nothing listens on port 1: the connection error names the servers.
      await regent(["status", "--servers", `nats://u:${SECRET}@127.0.0.1:1`, "--timeout-ms", "500"], { timeoutMs: 15_000 }),
      await regent(["resign", "--global", "--servers", `nats://u:${SECRET}@127.0.0.1:${port}`, "--timeout-ms", "500"], { timeoutMs: 15_000 }),
    ];
    for (const r of runs) {
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/^regent: /);
      expect(r.stdout + r.stderr).not.toContain(SECRET);
    }
    expect(runs[2]!.stderr).toContain("nats://u:***@127.0.0.1:1");
  });

  it("a candidate's debug logs and events do not contain its password", async () => {
    // (`regent node` needs a supercluster for its placed buckets; `elect` logs through the same logger.)
    const node = new RegentProcess("cand-x", ["elect", "--json", "--key", "secret.test", "--id", "cand-x", "--servers", server.url, "--user", "u", "--log-level", "debug"], {
      env: { ...process.env, NATS_PASSWORD: SECRET },
    });
    try {
      await node.waitForEvent((e) => e.type === "elected", { timeoutMs: 30_000 });
    } finally {
      await node.stop();
    }
    expect(node.stderr).toMatch(/"msg":"elected"/); // it did log, at debug level
    expect(node.stderr + JSON.stringify(node.events)).not.toContain(SECRET);
  });

  it("status fails within a few seconds saying no node answered", async () => {
    const r = await regent(["status", "--servers", server.url], { timeoutMs: 15_000 });
    expectCleanFailure(r, /no regent node answered regent\.demo\.state/);
    expect(r.ms).toBeLessThan(8_000);
  });
});

// ---- regent up --once -------------------------------------------------------

/** Direct children of `pid` with their command lines, from /proc (Linux). */
function childrenOf(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // Field 4 (ppid) follows the parenthesised command name, which may itself contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.set(Number(name), cmdline(Number(name)) ?? "");
    } catch {
      continue; // exited while we looked
    }
  }
  return out;
}

/** The process's command line, or undefined when it no longer exists (or is a zombie awaiting its reaper). */
function cmdline(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return undefined;
  }
}

describe.runIf(process.platform === "linux")("regent up --once", () => {
  it("elects every leader from the shipped regions/, prints the table and leaves no process behind", async () => {
    const topo = loadTopology(join(ROOT, "regions"));
    // Track `up`'s children while it runs (nats-servers are exec'd through
    // setpriv, nodes are spawned directly), so the leak check concerns only
    // this run even when other test files start servers in parallel.
    const seen = new Map<number, string>();
    let upPid = 0;
    const logDir = mkdtempSync(join(tmpdir(), "regent-up-logs-"));
    const poll = setInterval(() => {
      if (upPid) for (const [pid, cmd] of childrenOf(upPid)) if (cmd) seen.set(pid, cmd);
    }, 100);
    let r: Run;
    try {
      r = await regent(["up", "--once", "--log-dir", logDir], { timeoutMs: 90_000, onSpawn: (pid) => (upPid = pid) });
    } finally {
      clearInterval(poll);
    }
    const detail = `exit ${r.code}/${r.signal} after ${(r.ms / 1000).toFixed(1)} s\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
    expect(r.code, detail).toBe(0);
    expect(r.ms, detail).toBeLessThan(90_000);
    expect(r.stdout, detail).toMatch(/all leaders elected/);
    expect(r.stdout, detail).toMatch(/^global +\S+ \(token \d+/m);
    for (const region of topo.regions) expect(r.stdout, detail).toMatch(new RegExp(`^region ${region.name} +\\S+ \\(token \\d+`, "m"));

    // The executable, not any argument: openssl's `-subj /CN=regent-nats-server` matched too.
    const natsServers = [...seen].filter(([, cmd]) => /(^|\/)nats-server /.test(cmd));
    const nodes = [...seen].filter(([, cmd]) => / node --json --region /.test(cmd));
    // Proof that the poll saw the deployment, so "none left" below means something.
    // Light mode: one server per region (no stretched global cluster since issue 11).
    expect(natsServers.length, [...seen.values()].join("\n")).toBe(topo.regions.length);
    expect(nodes.length, [...seen.values()].join("\n")).toBe(topo.regions.reduce((n, x) => n + x.candidates, 0));

    // Same pid with the same command line still alive = leaked (a reused pid would differ).
    const deadline = Date.now() + 3_000;
    let leaked = [...seen].filter(([pid, cmd]) => cmdline(pid) === cmd);
    while (leaked.length > 0 && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 100));
      leaked = leaked.filter(([pid, cmd]) => cmdline(pid) === cmd);
    }
    expect(leaked.map(([pid, cmd]) => `${pid} ${cmd}`)).toEqual([]);

    // Secure by default: TLS on every server, each node with its region's
    // nkey, and everything above (elections, scopes, events, the observer's
    // state request) done within the generated permissions.
    const logs = readdirSync(logDir).map((f) => readFileSync(join(logDir, f), "utf8"));
    expect(logs).toHaveLength(topo.regions.length);
    for (const log of logs) expect(log).toContain("TLS required for client connections");
    expect(logs.flatMap((l) => l.split("\n").filter((x) => /Violation/.test(x)))).toEqual([]);
    for (const [, cmd] of nodes) expect(cmd).toMatch(/ --nkey \S+\/node-[\w-]+\.nk --tls-ca \S+ca\.pem/);
    expect(r.stdout).not.toMatch(/nats-secrets/); // --once prints no client hint, so no path to the operator's seed either
    rmSync(logDir, { recursive: true, force: true });
    console.log(`regent up --once took ${(r.ms / 1000).toFixed(1)} s`);
  }, 120_000);
});
