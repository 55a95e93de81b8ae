/**
 * Exercise controls of the local demo (`regent up`): kill, pause, resume and
 * restart a whole region (its node processes and its own cluster's
 * nats-servers; nothing is stretched across regions) or one node process,
 * so a person can rehearse a region failover without writing scripts. The
 * dashboard's buttons and `regent region …` / `regent node …` from another
 * terminal call these through the dashboard server's control API.
 */
import type { Supercluster } from "../launcher/supercluster.js";
import { RegentProcess } from "../launcher/candidates.js";
import { AbortedError, ConfigError } from "../errors.js";

export const REGION_ACTIONS = ["kill", "pause", "resume", "restart"] as const;
export const NODE_ACTIONS = ["kill", "pause", "resume", "restart"] as const;
export type RegionAction = (typeof REGION_ACTIONS)[number];
export type NodeAction = (typeof NODE_ACTIONS)[number];

/** One control request, as the API and the CLI carry it. */
export type ControlRequest = { target: "region"; action: RegionAction; name: string } | { target: "node"; action: NodeAction; name: string };

/** What an action did, in a sentence a person reads. */
export interface ControlResult {
  ok: boolean;
  message: string;
}

/** Process state of the demo, for the dashboard. */
export interface ControlView {
  regions: Record<string, { state: "up" | "paused" | "down"; servers: { name: string; state: "up" | "paused" | "down" }[] }>;
  nodes: { id: string; region: string; state: "up" | "paused" | "down"; pid: number | null }[];
}

/** What the dashboard server needs from a deployment it may act on. */
export interface ExerciseControls {
  run(req: ControlRequest, signal?: AbortSignal): Promise<ControlResult>;
  view(): ControlView;
}

/** Checks an untrusted control request (from HTTP) and returns it typed. */
export function parseControl(raw: unknown): ControlRequest {
  const r = (raw ?? {}) as Record<string, unknown>;
  const actions: readonly string[] = r.target === "region" ? REGION_ACTIONS : r.target === "node" ? NODE_ACTIONS : [];
  if (!actions.length) throw new ConfigError("target", `must be "region" or "node", got ${JSON.stringify(r.target)}`);
  if (typeof r.action !== "string" || !actions.includes(r.action)) throw new ConfigError("action", `must be one of ${actions.join(", ")}, got ${JSON.stringify(r.action)}`);
  if (typeof r.name !== "string" || !/^[A-Za-z0-9_-]+$/.test(r.name)) throw new ConfigError("name", `must be a region or node name, got ${JSON.stringify(r.name)}`);
  return { target: r.target, action: r.action, name: r.name } as ControlRequest;
}

/** How `up` starts one node (so a restart starts the same command again). */
export interface NodeSpec {
  id: string;
  region: string;
  args: string[];
}

/**
 * Controls over the processes `regent up` started. `nodes` is `up`'s own
 * list: a restarted node replaces its entry, so `up`'s teardown stops it too.
 */
export class LocalExercise implements ExerciseControls {
  private readonly pausedServers = new Set<string>();

  constructor(
    private readonly sc: Supercluster,
    private readonly nodes: RegentProcess[],
    private readonly specs: NodeSpec[],
    /** Called with every action's result (up prints it). */
    private readonly onAction: (req: ControlRequest, r: ControlResult) => void = () => {},
  ) {}

  async run(req: ControlRequest, signal?: AbortSignal): Promise<ControlResult> {
    let r: ControlResult;
    try {
      r = req.target === "region" ? await this.region(req.action, req.name, signal) : await this.node(req.action, req.name);
    } catch (err) {
      r = { ok: false, message: `${req.target} ${req.action} ${req.name} failed: ${(err as Error).message}` };
    }
    this.onAction(req, r);
    return r;
  }

  view(): ControlView {
    const regions: ControlView["regions"] = {};
    for (const region of Object.keys(this.sc.regions)) {
      const servers = this.servers(region).map((m) => ({ name: m.name, state: !m.running ? "down" : this.pausedServers.has(m.name) ? "paused" : "up" }) as const);
      const state = servers.every((s) => s.state === "down") ? "down" : servers.some((s) => s.state === "paused") ? "paused" : "up";
      regions[region] = { state, servers };
    }
    const nodes = this.specs.map((s) => {
      const p = this.current(s.id);
      const state = !p?.running ? "down" : p.paused ? "paused" : "up";
      return { id: s.id, region: s.region, state, pid: p?.running ? (p.pid ?? null) : null } as const;
    });
    return { regions, nodes };
  }

  private servers(region: string) {
    const r = this.sc.regions[region];
    if (!r) throw new ConfigError("region", `unknown region "${region}" (known: ${Object.keys(this.sc.regions).join(", ")})`);
    return [...r.servers];
  }

  private regionNodes(region: string): NodeSpec[] {
    return this.specs.filter((s) => s.region === region);
  }

  private current(id: string): (RegentProcess & { paused?: boolean }) | undefined {
    for (let i = this.nodes.length - 1; i >= 0; i--) if (this.nodes[i]!.id === id) return this.nodes[i];
    return undefined;
  }

  private async region(action: RegionAction, region: string, signal?: AbortSignal): Promise<ControlResult> {
    const servers = this.servers(region);
    const specs = this.regionNodes(region);
    const names = (xs: { name?: string; id?: string }[]) => xs.map((x) => x.name ?? x.id).join(", ");
    const t0 = performance.now();
    switch (action) {
      case "kill": {
        const live = specs.map((s) => this.current(s.id)).filter((p): p is RegentProcess => !!p?.running);
        await Promise.all(live.map((p) => p.signal("SIGKILL")));
        for (const m of servers) this.pausedServers.delete(m.name);
        await this.sc.killRegion(region);
        return { ok: true, message: `killed region ${region}: SIGKILL to ${live.length} node(s) (${names(live) || "none running"}) and ${servers.length} nats-server(s) (${names(servers)})` };
      }
      case "pause": {
        const live = specs.map((s) => this.current(s.id)).filter((p): p is RegentProcess & { paused?: boolean } => !!p?.running);
        for (const p of live) this.pause(p);
        const up = servers.filter((m) => m.running);
        await Promise.all(up.map((m) => this.sc.kill(m.name, "SIGSTOP")));
        for (const m of up) this.pausedServers.add(m.name);
        return { ok: true, message: `paused region ${region}: SIGSTOP to ${live.length} node(s) (${names(live)}) and ${up.length} nats-server(s) (${names(up)}); resume with: regent region resume ${region}` };
      }
      case "resume": {
        const paused = servers.filter((m) => this.pausedServers.has(m.name) && m.running);
        await Promise.all(paused.map((m) => this.sc.kill(m.name, "SIGCONT")));
        for (const m of servers) this.pausedServers.delete(m.name);
        const live = specs.map((s) => this.current(s.id)).filter((p): p is RegentProcess & { paused?: boolean } => !!p?.running);
        for (const p of live) this.resume(p);
        return { ok: true, message: `resumed region ${region}: SIGCONT to ${paused.length} nats-server(s) and ${live.length} node(s)` };
      }
      case "restart": {
        // Thaw first: a stopped process only dies on SIGKILL, and restartRegion asks politely first.
        await Promise.all(servers.filter((m) => this.pausedServers.has(m.name) && m.running).map((m) => this.sc.kill(m.name, "SIGCONT")));
        for (const m of servers) this.pausedServers.delete(m.name);
        await Promise.all(specs.map((s) => this.current(s.id)?.stop()));
        if (signal?.aborted) throw new AbortedError("aborted");
        await this.sc.restartRegion(region, { timeoutMs: 60_000 });
        for (const s of specs) this.spawn(s);
        return { ok: true, message: `restarted region ${region} in ${((performance.now() - t0) / 1000).toFixed(1)} s: nats-servers ${names(servers)} back (same stores), nodes ${names(specs)} started; its scope fails back after failbackAfterMs of health` };
      }
    }
  }

  private async node(action: NodeAction, id: string): Promise<ControlResult> {
    const spec = this.specs.find((s) => s.id === id);
    if (!spec) throw new ConfigError("node", `unknown node "${id}" (known: ${this.specs.map((s) => s.id).join(", ")})`);
    const p = this.current(id);
    switch (action) {
      case "kill":
        if (!p?.running) return { ok: true, message: `node ${id} is not running` };
        await p.signal("SIGKILL");
        return { ok: true, message: `killed node ${id} (SIGKILL to pid ${p.pid ?? "?"}); its leases lapse after a full lease of silence` };
      case "pause":
        if (!p?.running) return { ok: false, message: `node ${id} is not running` };
        this.pause(p);
        return { ok: true, message: `paused node ${id} (SIGSTOP to pid ${p.pid}); resume with: regent node resume ${id}` };
      case "resume":
        if (!p?.running) return { ok: false, message: `node ${id} is not running (restart it: regent node restart ${id})` };
        this.resume(p);
        return { ok: true, message: `resumed node ${id} (SIGCONT to pid ${p.pid}); it finds its deadline passed and stands again` };
      case "restart": {
        await p?.stop();
        const n = this.spawn(spec);
        return { ok: true, message: `restarted node ${id} (pid ${n.pid ?? "?"})` };
      }
    }
  }

  private pause(p: RegentProcess & { paused?: boolean }): void {
    p.proc.kill("SIGSTOP");
    p.paused = true;
  }

  private resume(p: RegentProcess & { paused?: boolean }): void {
    p.proc.kill("SIGCONT");
    p.paused = false;
  }

  private spawn(spec: NodeSpec): RegentProcess {
    const n = new RegentProcess(spec.id, spec.args);
    const i = this.nodes.findIndex((x) => x.id === spec.id);
    if (i >= 0) this.nodes[i] = n;
    else this.nodes.push(n);
    return n;
  }
}
