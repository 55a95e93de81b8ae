/**
 * What a lease bucket's stream must look like for {@link NatsLeaseStore} to
 * use it, checked at `open`, after recovering a lost bucket (whoever
 * recreated it), and whenever the store re-reads the config (see
 * `nats-store.ts`): a stream may be recreated or edited by someone else.
 */
import type { StreamConfig } from "@nats-io/jetstream";
import { StorageType } from "@nats-io/jetstream";
import { ConfigError } from "../errors.js";
import { monotonicNowMs } from "../util/clock.js";
import { FreshFlight } from "../util/fresh-flight.js";

/**
 * Null when `cfg` is safe for leases, else why not. Refused:
 * - a TTL (`max_age`): expiry is invisible to watchers, and R3 TTL buckets
 *   dropped fresh keys (nats-server#3653) — a key vanishing is a forged
 *   delete (rule 3: never rely on server TTL);
 * - memory storage: revisions must survive restarts (rule 4);
 * - `republish`: the server republishes every write onto a subject of the
 *   creator's choosing, bypassing the writers' permissions (docs/security.md);
 * - `sources` / `mirror`: records would come from another stream, written
 *   by whoever may write there;
 * - `max_msgs` / `max_bytes` limits: the server would discard lease records
 *   (a forged delete) once the bucket fills.
 * `allow_direct` is not refused: the store binds with direct gets off, so
 * its reads go to the stream leader whatever the stream allows.
 */
export function unsafeBucketConfig(bucket: string, cfg: Partial<StreamConfig>): ConfigError | null {
  const no = (why: string) => new ConfigError("bucket", `${bucket} ${why}; regent refuses it (docs/safety.md, assumption 4; docs/security.md)`);
  if ((cfg.max_age ?? 0) > 0) return no(`has a TTL (max_age ${cfg.max_age} ns)`);
  if (cfg.storage !== StorageType.File) return no(`uses ${cfg.storage} storage (revisions must survive restarts)`);
  if (cfg.republish) return no(`republishes its writes (${cfg.republish.src} → ${cfg.republish.dest})`);
  if (cfg.mirror || (cfg.sources?.length ?? 0) > 0) return no("is fed from other streams (mirror or sources)");
  if ((cfg.max_msgs ?? -1) > 0 || (cfg.max_bytes ?? -1) > 0) return no(`has message limits (max_msgs ${cfg.max_msgs}, max_bytes ${cfg.max_bytes}) that would discard lease records`);
  return null;
}

/** Replicas of a stream config (1 when absent). */
export const replicasOf = (cfg: Partial<StreamConfig>): number => cfg.num_replicas ?? 1;

/**
 * How long a store trusts the config of a replicated stream before a
 * conditional write re-reads it (an operator may add a TTL to a live
 * bucket). A single-replica stream's config is re-read before every write:
 * see {@link StreamConfigCheck}.
 */
export const CONFIG_MAX_AGE_MS = 1_000;

/**
 * The stream config a store writes under: its replica count (which
 * conditional-write check is exact) and whether it is still safe. Taken from
 * every recovery, re-read after a write fails, and before a write: always
 * when the store believes the stream has one replica, otherwise when the
 * last read is older than {@link CONFIG_MAX_AGE_MS}. Concurrent re-reads
 * are shared.
 *
 * Why always on R1 (review finding 3): the per-key check used there lets
 * several writers win on a replicated stream, and an R1 bucket can become
 * R3 under a running store without any call of it failing — an operator's
 * edit, or the bucket lost and recreated replicated by another process
 * (measured: 27 of 30 rounds with several winners when the stores kept
 * their belief). The stream-wide check is exact on any stream, but cannot
 * replace the per-key one on R1 (keys contend, and on 2.9 it miscounts
 * after the purge that raises a recreated bucket, `bucket-epoch.ts`).
 * Left: a change between the read and the write (one round trip).
 */
export class StreamConfigCheck {
  replicas: number;
  private checkedAt: number;
  private readonly reads = new FreshFlight<Partial<StreamConfig>>();

  constructor(
    private readonly bucket: string,
    private readonly read: () => Promise<Partial<StreamConfig>>,
    cfg: Partial<StreamConfig>,
  ) {
    this.replicas = replicasOf(cfg);
    this.checkedAt = monotonicNowMs();
  }

  /** Takes a config read elsewhere (open, recovery); throws its {@link ConfigError} when unsafe. */
  accept(cfg: Partial<StreamConfig>): void {
    const unsafe = unsafeBucketConfig(this.bucket, cfg);
    if (unsafe) {
      this.checkedAt = -Infinity; // look again before the next write
      throw unsafe;
    }
    this.replicas = replicasOf(cfg);
    this.checkedAt = monotonicNowMs();
  }

  /** True when a write must re-read the config first. */
  get stale(): boolean {
    return this.replicas <= 1 || monotonicNowMs() - this.checkedAt > CONFIG_MAX_AGE_MS;
  }

  /** Re-reads the config (joining a read sent after this call began). */
  async check(): Promise<void> {
    const mark = this.reads.mark();
    this.accept(await this.reads.run(mark, this.read));
  }
}
