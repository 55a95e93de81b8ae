/**
 * Bucket layout of a deployment. Each region's lease lives in its own bucket,
 * placed in that region's JetStream cluster; the global lease and the scope
 * leases live in one bucket placed in the stretched `global` cluster.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { NatsLeaseStore } from "../lease/nats-store.js";
import type { DeploymentStores } from "./bus.js";

/** Name of the JetStream cluster holding the global bucket. */
export const GLOBAL_CLUSTER = "global";
/** Bucket of the global lease and the scope leases. */
export const GLOBAL_BUCKET = "regent-global";
/** Bucket of `region`'s lease. */
export const regionBucket = (region: string) => `regent-region-${region}`;
/**
 * `region`'s store of the global and scope quorum leases (docs/quorum.md):
 * one single-replica bucket per region, in that region's own cluster, pinned
 * to its first server. Holds `global.leader` and the `scope.<scope>` records.
 */
export const quorumBucket = (region: string) => `regent-quorum-${region}`;
/** Server tag that pins a single-replica bucket to one server (`placement.tags`). */
export const serverTag = (server: string) => `srv:${server}`;
/** Name of a region's `n`-th server (n from 1), as the launcher and compose name them. */
export const serverName = (region: string, n: number) => `${region}-${n}`;

/** What is needed to open a deployment's stores. */
export interface DeploymentLayout {
  cluster: string;
  regions: { name: string; replicas: number }[];
  globalReplicas: number;
  /** Set false to place nothing (single-cluster setups, tests). Default true. */
  placement?: boolean;
}

/** Opens (creating when missing) every bucket of the deployment through one connection. */
export async function openDeployment(nc: NatsConnection, layout: DeploymentLayout, opts: { signal?: AbortSignal; create?: boolean } = {}): Promise<DeploymentStores> {
  const place = layout.placement !== false;
  const regions = new Map<string, NatsLeaseStore>();
  for (const r of layout.regions) {
    regions.set(
      r.name,
      await NatsLeaseStore.open(nc, {
        bucket: regionBucket(r.name),
        replicas: r.replicas,
        ...(place ? { placement: { cluster: r.name } } : {}),
        ...(opts.create === false ? { create: false } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      }),
    );
  }
  const global = await NatsLeaseStore.open(nc, {
    bucket: GLOBAL_BUCKET,
    replicas: layout.globalReplicas,
    ...(place ? { placement: { cluster: GLOBAL_CLUSTER } } : {}),
    ...(opts.create === false ? { create: false } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { cluster: layout.cluster, regions, global };
}
