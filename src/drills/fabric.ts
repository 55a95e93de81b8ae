/**
 * Where a drill's NATS servers run and how faults reach them. The default is
 * the loopback supercluster of src/launcher/supercluster.ts; partition-region
 * uses the network-namespace variant in netns.ts, whose regions can be cut
 * off by taking a link down.
 */
import { startSupercluster, type Supercluster } from "../launcher/supercluster.js";
import { streamLeader } from "../launcher/ports.js";
import type { HarnessServers, RegentHarness } from "../launcher/harness.js";
import type { Topology } from "../topology/load.js";

/** One NATS server of the fabric. */
export interface FabricServer {
  readonly name: string;
  /** Region it belongs to. */
  readonly region: string;
  readonly cluster: string;
  readonly running: boolean;
  readonly pid: number | undefined;
}

/** The drill's servers, as the harness runs nodes against them ({@link HarnessServers}) and as faults reach them. */
export interface Fabric extends HarnessServers {
  readonly kind: "loopback" | "netns";
  servers(): FabricServer[];
  /** Sends a signal to one server; terminating signals resolve once it exited. */
  signal(server: string, sig: NodeJS.Signals): Promise<void>;
  /** Name of the server leading `stream`, if any. */
  streamLeader(stream: string): Promise<string | undefined>;
  nodeWrapper(region: string): string[];
  /** Cut the region off from every other region (netns only). */
  partition?(region: string): Promise<void>;
  heal?(region: string): Promise<void>;
  stop(): Promise<void>;
}

/** The loopback supercluster (light mode: one server per region). */
export class LoopbackFabric implements Fabric {
  readonly kind = "loopback" as const;
  private constructor(private readonly sc: Supercluster) {}

  static async start(topology: Topology): Promise<LoopbackFabric> {
    return new LoopbackFabric(await startSupercluster(topology, { mode: "light", readyTimeoutMs: 90_000 }));
  }

  allUrls(region: string): string[] {
    return this.sc.allUrls(region);
  }
  get urls(): string[] {
    return this.sc.urls;
  }
  servers(): FabricServer[] {
    return Object.values(this.sc.regions).flatMap((c) => c.servers);
  }
  signal(server: string, sig: NodeJS.Signals): Promise<void> {
    return this.sc.kill(server, sig);
  }
  killRegion(region: string): Promise<void> {
    return this.sc.killRegion(region);
  }
  streamLeader(stream: string): Promise<string | undefined> {
    return streamLeader(this.sc.all, stream);
  }
  nodeWrapper(): string[] {
    return [];
  }
  async stop(): Promise<void> {
    // A frozen server would sit out SIGTERM's grace period.
    for (const s of this.servers()) if (s.running) await this.sc.kill(s.name, "SIGCONT").catch(() => undefined);
    await this.sc.stop();
  }
}

/** The drill's harness: every candidate's node process on the drill's fabric. */
export type DrillHarness = RegentHarness<Fabric>;
