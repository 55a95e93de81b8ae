/**
 * The dashboard server on its own (no NATS): the page, the server-sent
 * events, and the control API's guards (token, Host, Origin). The source and
 * controls here are in-memory implementations of the server's interfaces;
 * the real ones run in test/dashboard/browser.test.ts.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ControlRequest, ControlResult, ControlView, ExerciseControls } from "../../src/dashboard/controls.js";
import { parseControl } from "../../src/dashboard/controls.js";
import type { FeedUpdate, StateUpdate, TimelineEntry } from "../../src/dashboard/feed.js";
import { startDashboardServer, type DashboardServer, type DashboardSource } from "../../src/dashboard/server.js";
import { writeControlFile } from "../../src/cli/exercise.js";
import { selfCommand } from "../../src/launcher/self.js";
import { WIRE_VERSION } from "../../src/wire/events.js";

class MemorySource implements DashboardSource {
  readonly cluster = "demo";
  readonly timeline: TimelineEntry[] = [];
  latest: StateUpdate = { state: null, latencyMs: null, error: null, answeredAt: null };
  connected = true;
  readonly resigned: unknown[] = [];
  private readonly ls = new Set<(u: FeedUpdate) => void>();
  on(fn: (u: FeedUpdate) => void) {
    this.ls.add(fn);
    return () => this.ls.delete(fn);
  }
  push(u: FeedUpdate) {
    for (const l of this.ls) l(u);
  }
  refresh() {}
  async resign(who: { region?: string; global?: boolean }) {
    this.resigned.push(who);
    return { node: "eu-west-1" };
  }
  async move(scope: string, reason: string, to?: string) {
    return { region: to ?? scope, node: `${to ?? scope}-1`, token: 42 };
  }
}

class MemoryControls implements ExerciseControls {
  readonly seen: ControlRequest[] = [];
  async run(req: ControlRequest): Promise<ControlResult> {
    this.seen.push(req);
    return req.name === "mars" ? { ok: false, message: "unknown region mars" } : { ok: true, message: `did ${req.action} ${req.name}` };
  }
  view(): ControlView {
    return { regions: { "eu-west": { state: "up", servers: [] } }, nodes: [] };
  }
}

let server: DashboardServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Reads the event stream until every `want` event arrived; `onHello` runs once the server has registered the client. */
async function sse(url: string, want: string[], onHello?: () => void): Promise<Record<string, unknown>> {
  const res = await fetch(new URL("/events", url), { signal: AbortSignal.timeout(10_000) });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const got: Record<string, unknown> = {};
  let buf = "";
  while (!want.every((w) => w in got)) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (ev && data) got[ev] = JSON.parse(data);
      if (ev === "hello") onHello?.();
    }
  }
  await reader.cancel();
  return got;
}

describe("dashboard server", () => {
  it("serves the page and streams hello, timeline, state and live events", async () => {
    const source = new MemorySource();
    server = await startDashboardServer({ source, port: 0 });
    const page = await fetch(server.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<title>regent dashboard<\/title>/);
    const first = await sse(server.url, ["hello", "timeline", "state"]);
    expect(first.hello).toEqual({ cluster: "demo", controls: false, leases: null });
    const ev: TimelineEntry = { seq: 7, subject: "regent.demo.global.leader", via: "live", receivedAt: 1, event: { v: WIRE_VERSION, kind: "elected", tier: "global", cluster: "demo", region: "eu-west", node: "eu-west-1", token: 3, leaseMs: 3000, at: 1 } };
    const got = await sse(server.url, ["hello", "event"], () => source.push({ type: "event", entry: ev }));
    expect(got.event).toEqual(ev);
  });

  it("control API: refuses without the token, with a foreign Host or Origin; runs with it", async () => {
    const controls = new MemoryControls();
    server = await startDashboardServer({ source: new MemorySource(), controls, port: 0 });
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(new URL("/api/control", server!.url), { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
    const auth = { authorization: `Bearer ${server.token}` };
    expect((await post({ target: "region", action: "kill", name: "eu-west" })).status).toBe(401);
    expect((await post({ target: "region", action: "kill", name: "eu-west" }, { authorization: "Bearer wrong" })).status).toBe(401);
    expect((await post({ target: "region", action: "kill", name: "eu-west" }, { ...auth, origin: "http://evil.example" })).status).toBe(403);
    expect(controls.seen).toEqual([]);

    const ok = await post({ target: "region", action: "kill", name: "eu-west" }, auth);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ ok: true, message: "did kill eu-west" });
    expect((await post({ target: "region", action: "explode", name: "eu-west" }, auth)).status).toBe(400);
    expect((await post({ target: "region", action: "kill", name: "mars" }, auth)).status).toBe(409);
    expect(controls.seen).toEqual([{ target: "region", action: "kill", name: "eu-west" }, { target: "region", action: "kill", name: "mars" }]);

    // DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example.
    const { request } = await import("node:http");
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: server!.port, path: "/api/state", headers: { host: `evil.example:${server!.port}` } }, (res) => resolve(res.statusCode ?? 0));
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(403);
  });

  it("resign and move go to the source; exercise controls only exist with controls", async () => {
    const source = new MemorySource();
    server = await startDashboardServer({ source, port: 0 });
    const post = (path: string, body: unknown) => fetch(new URL(path, server!.url), { method: "POST", headers: { authorization: `Bearer ${server!.token}` }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: await r.json() }));
    expect(await post("/api/resign", { region: "eu-west" })).toEqual({ status: 200, body: { ok: true, message: "regional leader of eu-west eu-west-1 resigned" } });
    expect(await post("/api/move", { scope: "us-east", reason: "manual", to: "eu-west" })).toEqual({ status: 200, body: { ok: true, message: "scope us-east now held by eu-west/eu-west-1 (token 42)" } });
    expect((await post("/api/control", { target: "region", action: "kill", name: "eu-west" })).status).toBe(404);
    expect(source.resigned).toEqual([{ region: "eu-west" }]);
  });

  it("regent region|node <action> posts to the control file's server and prints what it did", async () => {
    const controls = new MemoryControls();
    server = await startDashboardServer({ source: new MemorySource(), controls, port: 0 });
    const file = join(mkdtempSync(join(tmpdir(), "regent-ctl-")), "control.json");
    writeControlFile(file, { url: server.url, token: server.token, cluster: "demo", pid: process.pid });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const self = selfCommand();
    // Asynchronous: the server answering it runs in this process.
    const run = (args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const c = spawn(self.command, [...self.args, ...args, "--control", file], { stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        c.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        c.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        c.on("close", (status) => resolve({ status, stdout, stderr }));
      });
    const a = await run(["region", "pause", "eu-west"]);
    expect(a.stderr).toBe("");
    expect(a.stdout).toBe("did pause eu-west\n");
    const b = await run(["node", "kill", "eu-west-2"]);
    expect(b.stdout).toBe("did kill eu-west-2\n");
    const c = await run(["region", "kill", "mars"]);
    expect(c.status).toBe(5); // refused by the running deployment (README, exit codes)
    expect(c.stderr).toBe("regent: unknown region mars [REFUSED]\n");
    expect(controls.seen.map((r) => `${r.target} ${r.action} ${r.name}`)).toEqual(["region pause eu-west", "node kill eu-west-2", "region kill mars"]);
  });

  it("parseControl rejects anything but a known target, action and name", () => {
    expect(parseControl({ target: "node", action: "resume", name: "eu-west-1" })).toEqual({ target: "node", action: "resume", name: "eu-west-1" });
    expect(() => parseControl({ target: "server", action: "kill", name: "x" })).toThrow(/target/);
    expect(() => parseControl({ target: "node", action: "rm", name: "x" })).toThrow(/action/);
    expect(() => parseControl({ target: "node", action: "kill", name: "../x" })).toThrow(/name/);
  });
});
