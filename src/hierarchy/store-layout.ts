/**
 * Bucket layout of a deployment (issue 11, docs/topology.md). Each region
 * has, in its own JetStream cluster: its regional lease bucket (light mode)
 * or one single-replica regional bucket per server (full mode, the regional
 * lease is then a quorum lease over them), and one single-replica quorum
 * bucket pinned to its first server. The global lease
 * and the scope leases are quorum leases over every region's quorum bucket
 * (docs/quorum.md): no bucket spans regions, so a lost region stalls no
 * other region's Raft.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { LazyLeaseStore } from "../lease/lazy-store.js";
import { NatsLeaseStore } from "../lease/nats-store.js";
import type { LeaseStore } from "../lease/store.js";
import { quorumBucket, regionBucket, regionServerBucket } from "../wire/names.js";
import type { LayoutStores } from "./bus.js";
import { ConfigError } from "../errors.js";

/** Server tag that pins a single-replica bucket to one server (`placement.tags`). */
export const serverTag = (server: string) => `srv:${server}`;
/** Name of a region's `n`-th server (n from 1), as the launcher and compose name them. */
export const serverName = (region: string, n: number) => `${region}-${n}`;

/** What is needed to open a deployment's stores: its bucket layout. */
export interface StoreLayout {
  cluster: string;
  /** The region of the node: its buckets are opened, and created when missing. */
  region: string;
  /**
   * Every region of the deployment: the replicas of its single regional
   * bucket, and `stores`, how many single-replica regional buckets its
   * regional lease is a quorum lease over (default 1: the single bucket).
   * {@link regionalLayout} gives both for a mode.
   */
  regions: { name: string; replicas: number; stores?: number }[];
  /** Set false to place nothing (single-cluster setups, tests). Default true. */
  placement?: boolean;
  /** Per-call timeout of the stores, and of each lazy open (ms, default 2000). */
  timeoutMs?: number;
}

/** Server mode: `light` runs one server per region cluster (fast, for demos and tests), `full` each region's `servers` from its file. */
export type ServerMode = "light" | "full";

/**
 * How `region` elects its regional leader in `mode`: light mode, one
 * single-replica bucket; full mode with several servers, a quorum lease over
 * one single-replica bucket per server (`stores` = `servers`); full mode
 * with one server, one bucket. Every node of a deployment runs in the same
 * mode, so every node derives the same layout for every region.
 */
export function regionalLayout(r: { name: string; servers: number }, mode: ServerMode): { name: string; replicas: number; stores: number } {
  return { name: r.name, replicas: 1, stores: mode === "full" && r.servers > 1 ? r.servers : 1 };
}

/** The buckets of `region`'s regional lease: `regionBucket` alone, or one per server (`regionServerBucket`). */
export function regionalBuckets(region: string, stores = 1): string[] {
  return stores > 1 ? Array.from({ length: stores }, (_, i) => regionServerBucket(region, i + 1)) : [regionBucket(region)];
}

/** Where `region`'s `n`-th regional bucket lives (full mode): its own cluster, its `n`-th server. */
export function regionServerPlacement(region: string, n: number): { cluster: string; tags: string[] } {
  return { cluster: region, tags: [serverTag(serverName(region, n))] };
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
 * calls on its own stores. A region electing on a quorum of per-server
 * buckets (full mode) has all of them bound lazily, its own included (created
 * on first use, each on its server): one server down must not keep a node
 * from starting. `opts.signal` aborts the creation.
 */
export async function openStoreLayout(nc: NatsConnection, layout: StoreLayout, opts: { signal?: AbortSignal; create?: boolean } = {}): Promise<LayoutStores> {
  const place = layout.placement !== false;
  const timeoutMs = layout.timeoutMs ?? 2_000;
  const own = layout.regions.find((r) => r.name === layout.region);
  if (!own) throw new ConfigError("region", `region ${layout.region} is not in the layout`, { named: true });
  const create = opts.create !== false;
  const ownStores = own.stores ?? 1;
  const ownRegional =
    ownStores > 1
      ? null
      : await NatsLeaseStore.open(nc, {
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
  // Own region's per-server regional buckets, each on its own server; other regions' only bound.
  const regionalStoresOf = (name: string, stores: number): LeaseStore[] =>
    regionalBuckets(name, stores).map((bucket, i) =>
      name === own.name && stores > 1
        ? lazy(bucket, { replicas: 1, ...(place ? { placement: regionServerPlacement(name, i + 1) } : {}), ...(create ? {} : { create: false }) })
        : lazy(bucket, { create: false }),
    );
  const names = quorumOrder(layout.regions.map((r) => r.name));
  const regions = new Map<string, LeaseStore[]>();
  for (const name of names) {
    const r = layout.regions.find((x) => x.name === name)!;
    regions.set(name, name === own.name && ownRegional ? [ownRegional] : regionalStoresOf(name, r.stores ?? 1));
  }
  return {
    cluster: layout.cluster,
    regions,
    quorumRegions: names,
    quorum: names.map((name) => (name === own.name ? ownQuorum : quorumStoreOf(name))),
    quorumStores: () => names.map(quorumStoreOf),
    regionalStores: ownRegional ? () => [ownRegional] : () => regionalStoresOf(own.name, ownStores),
  };
}
