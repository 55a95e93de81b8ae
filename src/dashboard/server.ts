/**
 * The dashboard's HTTP server (node:http, no framework): one static page,
 * server-sent events with everything the page shows, and a small JSON API
 * for the page's buttons and for `regent region …` / `regent node …`.
 *
 * Safety of the control API (it can SIGKILL processes):
 * - it listens on loopback by default;
 * - every mutating request needs the per-run token as
 *   `Authorization: Bearer <token>` (a custom header, so a cross-site page
 *   cannot send it without a CORS preflight, which this server never allows);
 * - on loopback, requests whose Host is not a loopback name are refused, so
 *   a DNS-rebinding page cannot even read the state;
 * - a request with a foreign Origin is refused.
 * The page gets the token from the URL's fragment (`#token=…`), which
 * browsers never send to a server or in a Referer.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseControl, type ControlResult, type ExerciseControls } from "./controls.js";
import type { FeedUpdate, StateUpdate, TimelineEntry } from "./feed.js";
import { MalformedError } from "../errors.js";

/** What the server needs from a feed ({@link DashboardFeed} is one). */
export interface DashboardSource {
  readonly cluster: string;
  readonly timeline: TimelineEntry[];
  readonly latest: StateUpdate;
  readonly connected: boolean;
  on(fn: (u: FeedUpdate) => void): () => void;
  refresh(): void;
  resign(who: { region?: string; global?: boolean }): Promise<unknown>;
  move(scope: string, reason: "manual" | "failback", to?: string): Promise<{ region?: string; node?: string; token?: number }>;
  /** Delivery counters, shown on /api/state. */
  readonly stats?: unknown;
}

/** Lease durations for the page's validity bars (display only). */
export interface LeaseDurations {
  regions: Record<string, number>;
  global: number;
  scopes: number;
  /** Failover order per region, for the page's "fail over to" choices. */
  failover?: Record<string, string[]>;
}

export interface DashboardServerOptions {
  source: DashboardSource;
  /** Present in the local demo only: process-level exercise controls. */
  controls?: ExerciseControls;
  leases?: LeaseDurations;
  host?: string;
  /** 0 = any free port. If the port is taken, a free one is used instead. */
  port?: number;
  /** Per-run token (default: 24 random bytes, base64url). */
  token?: string;
}

export interface DashboardServer {
  /** Base URL, e.g. `http://127.0.0.1:4280/`. */
  readonly url: string;
  /** URL with the token in the fragment: the page's buttons work with it. */
  readonly controlUrl: string;
  readonly token: string;
  readonly port: number;
  close(): Promise<void>;
}

const PAGE = new URL("./page.html", import.meta.url);
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

export async function startDashboardServer(opts: DashboardServerOptions): Promise<DashboardServer> {
  const token = opts.token ?? randomBytes(24).toString("base64url");
  const host = opts.host ?? "127.0.0.1";
  const loopbackOnly = LOOPBACK.has(host);
  const clients = new Set<ServerResponse>();
  const page = readFileSync(PAGE, "utf8");

  const send = (res: ServerResponse, event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const broadcast = (event: string, data: unknown) => {
    for (const c of clients) send(c, event, data);
  };
  const controlsView = () => opts.controls?.view() ?? null;
  const off = opts.source.on((u: FeedUpdate) => {
    if (u.type === "state") {
      broadcast("state", u.update);
      if (opts.controls) broadcast("controls", controlsView());
    } else if (u.type === "event") broadcast("event", u.entry);
    else broadcast("connection", { connected: u.connected, server: u.server });
  });
  const keepAlive = setInterval(() => {
    for (const c of clients) c.write(": keep-alive\n\n");
  }, 15_000);
  keepAlive.unref();

  const authorized = (req: IncomingMessage) => {
    const got = Buffer.from(String(req.headers.authorization ?? "").replace(/^Bearer\s+/i, ""));
    const want = Buffer.from(token);
    return got.length === want.length && timingSafeEqual(got, want);
  };
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify(body) + "\n");
  };
  const readBody = (req: IncomingMessage): Promise<unknown> =>
    new Promise((resolve, reject) => {
      let raw = "";
      req.setEncoding("utf8");
      req.on("data", (d: string) => {
        raw += d;
        if (raw.length > 10_000) req.destroy(new MalformedError("body too large"));
      });
      req.on("end", () => {
        try {
          resolve(raw ? JSON.parse(raw) : {});
        } catch {
          reject(new MalformedError("body is not JSON"));
        }
      });
      req.on("error", reject);
    });
  const action = async (what: string, fn: () => Promise<ControlResult>): Promise<ControlResult> => {
    const started = Date.now();
    broadcast("action", { what, state: "started", at: started });
    let r: ControlResult;
    try {
      r = await fn();
    } catch (err) {
      r = { ok: false, message: `${what} failed: ${(err as Error).message}` };
    }
    broadcast("action", { what, state: r.ok ? "done" : "failed", message: r.message, at: Date.now(), ms: Date.now() - started });
    if (opts.controls) broadcast("controls", controlsView());
    opts.source.refresh();
    return r;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const hostname = String(req.headers.host ?? "").replace(/:\d+$/, "");
    if (loopbackOnly && !LOOPBACK.has(hostname)) return json(res, 403, { ok: false, message: `Host ${hostname} refused: this server answers loopback names only` });
    const url = new URL(req.url ?? "/", "http://x");
    if (req.method === "GET" && url.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "x-frame-options": "DENY" });
      return res.end(page);
    }
    if (req.method === "GET" && url.pathname === "/events") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
      send(res, "hello", { cluster: opts.source.cluster, controls: !!opts.controls, leases: opts.leases ?? null });
      send(res, "timeline", opts.source.timeline);
      send(res, "state", opts.source.latest);
      send(res, "connection", { connected: opts.source.connected, server: null });
      if (opts.controls) send(res, "controls", controlsView());
      clients.add(res);
      req.on("close", () => clients.delete(res));
      return;
    }
    if (req.method === "GET" && url.pathname === "/api/state") return json(res, 200, { ...opts.source.latest, controls: controlsView(), stats: opts.source.stats ?? null });
    if (req.method !== "POST" || !url.pathname.startsWith("/api/")) return json(res, 404, { ok: false, message: "not found" });

    const origin = req.headers.origin;
    if (origin && origin !== `http://${req.headers.host}`) return json(res, 403, { ok: false, message: `Origin ${origin} refused` });
    if (!authorized(req)) return json(res, 401, { ok: false, message: "missing or wrong token (Authorization: Bearer <token>; open the URL with #token=… that regent printed)" });
    let body: Record<string, unknown>;
    try {
      body = (await readBody(req)) as Record<string, unknown>;
    } catch (err) {
      return json(res, 400, { ok: false, message: (err as Error).message });
    }
    try {
      switch (url.pathname) {
        case "/api/control": {
          if (!opts.controls) return json(res, 404, { ok: false, message: "exercise controls exist only in the local demo (regent up)" });
          const c = parseControl(body);
          const r = await action(`${c.target} ${c.action} ${c.name}`, () => opts.controls!.run(c));
          return json(res, r.ok ? 200 : 409, r);
        }
        case "/api/resign": {
          const region = typeof body.region === "string" ? body.region : undefined;
          const who = region ? { region } : { global: true };
          const r = await action(region ? `resign region ${region}` : "resign global", async () => {
            const ack = (await opts.source.resign(who)) as { node?: string };
            return { ok: true, message: `${region ? `regional leader of ${region}` : "global leader"} ${ack?.node ?? "?"} resigned` };
          });
          return json(res, r.ok ? 200 : 409, r);
        }
        case "/api/move": {
          const scope = String(body.scope ?? "");
          const reason = body.reason === "failback" ? "failback" : "manual";
          const to = typeof body.to === "string" && body.to ? body.to : undefined;
          const r = await action(reason === "failback" ? `failback ${scope}` : `failover ${scope} → ${to}`, async () => {
            const m = await opts.source.move(scope, reason, to);
            return { ok: true, message: `scope ${scope} now held by ${m.region}/${m.node} (token ${m.token})` };
          });
          return json(res, r.ok ? 200 : 409, r);
        }
        default:
          return json(res, 404, { ok: false, message: "not found" });
      }
    } catch (err) {
      return json(res, 400, { ok: false, message: (err as Error).message });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { ok: false, message: String(err) });
      else res.end();
    });
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  try {
    await listen(opts.port ?? 0);
  } catch (err) {
    // A fixed default port taken by another run: any free port will do, the URL is printed.
    if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE" || !opts.port) throw err;
    await listen(0);
  }
  const port = (server.address() as AddressInfo).port;
  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  const base = `http://${shown}:${port}/`;
  return {
    url: base,
    controlUrl: `${base}#token=${token}`,
    token,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        off();
        clearInterval(keepAlive);
        for (const c of clients) c.end();
        clients.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
