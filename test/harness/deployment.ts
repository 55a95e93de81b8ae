/**
 * A local multi-region deployment for integration tests: the supercluster
 * (light mode unless told otherwise) from a (temporary) regions/ directory plus `regent node`
 * processes that record their leadership intervals and guarded work for the
 * split-brain oracle.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RegentProcess, waitUntil } from "../../src/launcher/candidates.js";
import { connectNats } from "../../src/util/nats-connect.js";
import { untilQuorumSettled } from "../../src/launcher/settled.js";
import { startSupercluster, type Supercluster } from "../../src/launcher/supercluster.js";
import { type SuperclusterMode } from "../../src/topology/plan.js";
import { checkIntervals, readIntervals, type CheckResult, type LeadershipInterval } from "../../src/observability/oracle.js";
import { loadTopology, type Topology } from "../../src/topology/load.js";

export interface TopologyEdits {
  regionLeaseMs?: number;
  regionRenewMs?: number;
  globalLeaseMs?: number;
  globalRenewMs?: number;
  scopeLeaseMs?: number;
  failbackAfterMs?: number;
  candidates?: number;
}

/** Copies the shipped regions/ into a temp dir, applying edits. */
export function testRegions(edits: TopologyEdits = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "regent-regions-"));
  cpSync("regions", dir, { recursive: true });
  for (const f of readdirSync(dir).filter((x) => x.endsWith(".json"))) {
    const p = join(dir, f);
    const j = JSON.parse(readFileSync(p, "utf8"));
    if (f === "global.json") {
      if (edits.globalLeaseMs) j.global.leaseMs = edits.globalLeaseMs;
      if (edits.globalRenewMs) j.global.renewMs = edits.globalRenewMs;
      if (edits.scopeLeaseMs) j.scopes.leaseMs = edits.scopeLeaseMs;
      if (edits.failbackAfterMs !== undefined) j.scopes.failbackAfterMs = edits.failbackAfterMs;
    } else {
      if (edits.regionLeaseMs) j.leaseMs = edits.regionLeaseMs;
      if (edits.regionRenewMs) j.renewMs = edits.regionRenewMs;
      if (edits.candidates) j.candidates = edits.candidates;
      delete j.priorities;
    }
    writeFileSync(p, JSON.stringify(j, null, 2));
  }
  return dir;
}

export class TestDeployment {
  readonly nodes: RegentProcess[] = [];
  readonly topology: Topology;
  readonly work = mkdtempSync(join(tmpdir(), "regent-dep-"));
  sc!: Supercluster;

  /** `mode`: the supercluster's and every node's (`--mode`); full runs each region's `servers`. */
  constructor(
    readonly regionsDir: string,
    readonly mode: SuperclusterMode = "light",
  ) {
    this.topology = loadTopology(regionsDir);
  }

  /** Starts the supercluster, then (after `beforeNodes`, e.g. subscribing to the bus) the nodes. */
  async start(beforeNodes?: () => Promise<void>): Promise<void> {
    this.sc = await startSupercluster(this.topology, { mode: this.mode });
    await beforeNodes?.();
    for (const r of this.topology.regions) for (const id of r.candidateIds) this.spawn(r.name, id);
    await Promise.all(this.nodes.map((n) => n.waitForEvent((e) => e.type === "ready", { timeoutMs: 60_000 })));
  }

  spawn(region: string, id: string): RegentProcess {
    const args = ["node", "--json", "--log-level", process.env.REGENT_TEST_LOG_LEVEL ?? "warn", "--region", region, "--id", id, "--regions", this.regionsDir, "--mode", this.mode];
    args.push("--servers", this.sc.allUrls(region).join(","));
    args.push("--intervals", join(this.work, `${id}.intervals`), "--act-log", join(this.work, `${id}.acts`));
    const n = new RegentProcess(id, args);
    this.nodes.push(n);
    return n;
  }

  running(region?: string): RegentProcess[] {
    return this.nodes.filter((n) => n.running && (!region || n.id.startsWith(`${region}-`)));
  }
  regionalLeader(region: string): RegentProcess | undefined {
    return this.running(region).find((n) => n.leadingIn("region"));
  }
  globalLeader(): RegentProcess | undefined {
    return this.running().find((n) => n.leadingIn("global"));
  }
  /** The process holding `scope` by its own events (held without a later end). */
  scopeHolder(scope: string): RegentProcess | undefined {
    return this.running().find((n) => {
      for (let i = n.events.length - 1; i >= 0; i--) {
        const e = n.events[i]!;
        if (e.scope !== scope) continue;
        if (e.type === "scope-held" || e.type === "scope-renewed") return true;
        if (e.type === "scope-ended") return false;
      }
      return false;
    });
  }
  regionOf(n: RegentProcess): string {
    return this.topology.regions.find((r) => n.id.startsWith(`${r.name}-`))!.name;
  }

  /** Waits for a leader in every listed region (default all) and a global leader. */
  async settled(regions = this.topology.regions.map((r) => r.name), timeoutMs = 60_000): Promise<void> {
    await waitUntil(this.nodes, () => regions.every((r) => this.regionalLeader(r)) && !!this.globalLeader(), timeoutMs, `leaders in ${regions.join(",")} and a global leader`);
  }

  /**
   * Waits until the global lease and every scope are on every quorum store
   * (status rows with `agree` = `stores`). "Every scope held at home" comes
   * first: a store that was not takeable at the grant (a region's bucket
   * created late, a vacant store waited out for a lease) is caught up a
   * lease or so later, and until then the holder has a bare majority, so
   * losing one more store ends its term. Faults that must move nothing else
   * start from here.
   */
  async quorumSettled(timeoutMs = 30_000): Promise<void> {
    const nc = await connectNats(this.sc.urls, "test-quorum-settled");
    try {
      await untilQuorumSettled(nc, this.topology.cluster, this.topology.regions.map((r) => r.name), timeoutMs);
    } finally {
      await nc.close().catch(() => undefined);
    }
  }

  /** SIGKILLs a region's node processes and its NATS servers. */
  async killRegion(region: string): Promise<number> {
    const at = (await Promise.all(this.running(region).map((n) => n.signal("SIGKILL"))))[0] ?? 0;
    await this.sc.killRegion(region);
    return at;
  }

  intervals(): LeadershipInterval[] {
    const files = this.nodes.map((n) => join(this.work, `${n.id}.intervals`)).filter((f) => existsSync(f));
    return readIntervals(files);
  }

  oracle(): CheckResult {
    return checkIntervals(this.intervals());
  }

  /** Guarded acts that fall outside the actor's own recorded term. */
  actsOutsideTerms(): string[] {
    const intervals = this.intervals();
    const bad: string[] = [];
    let count = 0;
    for (const n of this.nodes) {
      const f = join(this.work, `${n.id}.acts`);
      if (!existsSync(f)) continue;
      for (const line of readFileSync(f, "utf8").split("\n")) {
        if (!line) continue;
        let a: { t: number; id: string; lease: string; token: number };
        try {
          a = JSON.parse(line);
        } catch {
          continue; // torn last line of a killed process
        }
        count++;
        const ok = intervals.some((i) => i.holder === a.id && i.lease === a.lease && i.token === a.token && a.t >= i.start - 1 && a.t <= i.end);
        if (!ok) bad.push(`${a.id} acted on ${a.lease} at ${a.t.toFixed(1)} with token ${a.token} outside its term`);
      }
    }
    if (count === 0) bad.push("no guarded acts recorded at all");
    return bad.slice(0, 20);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    await this.sc?.stop();
    rmSync(this.work, { recursive: true, force: true });
  }
}
