/**
 * Which NATS servers a {@link Topology} runs, by name: one cluster per region,
 * nothing stretched across regions. The local launcher
 * (launcher/supercluster.ts) starts exactly these, and the compose and config
 * generators (compose.ts) write them out, so the two agree on every name and
 * server tag.
 */
import { serverName, serverTag, type ServerMode } from "../hierarchy/store-layout.js";
import type { Topology } from "./schema.js";

/** One server of the plan, before ports are known. */
export interface PlannedServer {
  name: string;
  cluster: string;
  region: string;
  /**
   * JetStream `server_tags`: `serverTag(name)` pins a region's quorum bucket
   * to its first server (hierarchy/store-layout.ts); `region:<region>` is for
   * operators placing their own streams.
   */
  tags: string[];
}

/** The clusters and servers {@link startSupercluster} would start, in start order (regions by name). One cluster per region, nothing else. */
export function superclusterPlan(topology: Topology, mode: ServerMode): { cluster: string; servers: PlannedServer[] }[] {
  return topology.regions.map((r) => ({
    cluster: r.name,
    servers: Array.from({ length: mode === "light" ? 1 : r.servers }, (_, i) => {
      const name = serverName(r.name, i + 1);
      return { name, cluster: r.name, region: r.name, tags: [serverTag(name), `region:${r.name}`] };
    }),
  }));
}
