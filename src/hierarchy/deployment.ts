/**
 * Bucket layout of a deployment (issue 11, docs/topology.md). Each region
 * has, in its own JetStream cluster: its regional lease bucket, and one
 * single-replica quorum bucket pinned to its first server. The global lease
 * and the scope leases are quorum leases over every region's quorum bucket
 * (docs/quorum.md): no bucket spans regions, so a lost region stalls no
 * other region's Raft.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { LazyLeaseStore } from "../lease/lazy-store.js";
import { NatsLeaseStore } from "../lease/nats-store.js";
import type { LeaseStore } from "../lease/store.js";
import type { DeploymentStores } from "./bus.js";

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
  /** The region of the node: its buckets are opened, and created when missing. */
  region: string;
  /** Every region of the deployment, with the replicas of its regional bucket (1 in light mode, its `servers` in full mode). */
  regions: { name: string; replicas: number }[];
  /** Set false to place nothing (single-cluster setups, tests). Default true. */
  placement?: boolean;
  /** Per-call timeout of the stores, and of each lazy open (ms, default 2000). */
  timeoutMs?: number;
}

/** The regions of a quorum in topology order (sorted by name): the same slots for every participant. */
export function quorumOrder(regions: readonly string[]): string[] {
  return [...regions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Where `region`'s quorum bucket lives: its own cluster, its first server (the contract of issue 11). */
export function quorumPlacement(region: string): { cluster: string; tags: string[] } {
  return { cluster: region, tags: [serverTag(serverName(region, 1))] };
}

/**
 * Opens (creating when missing) the node's own region's regional and quorum
 * buckets, and binds every other region's buckets lazily (`LazyLeaseStore`):
 * a region that is down, or whose buckets do not exist yet, fails only the
 * calls on its own stores. `opts.signal` aborts the creation.
 */
export async function openDeployment(nc: NatsConnection, layout: DeploymentLayout, opts: { signal?: AbortSignal; create?: boolean } = {}): Promise<DeploymentStores> {
  const place = layout.placement !== false;
  const timeoutMs = layout.timeoutMs ?? 2_000;
  const own = layout.regions.find((r) => r.name === layout.region);
  if (!own) throw new Error(`region ${layout.region} is not in the layout`);
  const create = opts.create !== false;
  const ownRegional = await NatsLeaseStore.open(nc, {
    bucket: regionBucket(own.name),
    replicas: own.replicas,
    timeoutMs,
    ...(place ? { placement: { cluster: own.name } } : {}),
    ...(create ? {} : { create: false }),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  // Own quorum bucket: created now, so the first participant finds it.
  const ownQuorum = await NatsLeaseStore.open(nc, {
    bucket: quorumBucket(own.name),
    replicas: 1,
    timeoutMs,
    ...(place ? { placement: quorumPlacement(own.name) } : {}),
    ...(create ? {} : { create: false }),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  // A lazy open has its own deadline: no caller's signal may cancel an open a later caller can use.
  const lazy = (bucket: string, extra: { replicas?: number; placement?: { cluster?: string; tags?: string[] }; create?: boolean }): LeaseStore =>
    new LazyLeaseStore(bucket, () => NatsLeaseStore.open(nc, { bucket, timeoutMs, signal: AbortSignal.timeout(Math.max(5_000, 3 * timeoutMs)), ...extra }));
  // Own region's quorum bucket is created (and recovered when lost, with its placement) by its own participants' stores;
  // other regions' are only bound: each region creates its own, in its own cluster.
  const quorumStoreOf = (name: string): LeaseStore =>
    name === own.name
      ? lazy(quorumBucket(name), { replicas: 1, ...(place ? { placement: quorumPlacement(name) } : {}), ...(create ? {} : { create: false }) })
      : lazy(quorumBucket(name), { create: false });
  const names = quorumOrder(layout.regions.map((r) => r.name));
  const regions = new Map<string, LeaseStore>();
  for (const name of names) regions.set(name, name === own.name ? ownRegional : lazy(regionBucket(name), { create: false }));
  return {
    cluster: layout.cluster,
    regions,
    quorumRegions: names,
    quorum: names.map((name) => (name === own.name ? ownQuorum : quorumStoreOf(name))),
    quorumStores: () => names.map(quorumStoreOf),
  };
}
