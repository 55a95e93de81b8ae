/**
 * Opening the JetStream KV bucket of a `NatsLeaseStore`: the options and
 * their checks, create-or-bind (a lost concurrent create binds to the
 * winner's stream), the check that what is really there is safe to use
 * (FILE storage, no TTL: `stream-config.ts`), and the open retried while the
 * server is unreachable or busy.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, StorageType, type JetStreamManager, type Placement, type StreamInfo } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { ConfigError, StoreUnavailableError, throwIfAborted } from "../errors.js";
import { sleep } from "../util/timers.js";
import { apiCode, guard } from "./nats-call.js";
import { unsafeBucketConfig } from "./stream-config.js";

/** Options of {@link NatsLeaseStore.open}. */
export interface NatsLeaseStoreOptions {
  /** KV bucket name (the stream is `KV_<bucket>`). */
  bucket: string;
  /** Replicas when the bucket is created (default 1). Ignored when it exists. */
  replicas?: number;
  /** Placement when the bucket is created, e.g. `{ cluster: "eu-west" }`. */
  placement?: { cluster?: string; tags?: string[] };
  /** Create the bucket when missing (default true); otherwise a missing bucket is a {@link BucketMissingError}. */
  create?: boolean;
  /** Per-call timeout in ms (default 2000); a timeout is a {@link StoreUnavailableError}. */
  timeoutMs?: number;
  /** Aborts `open` itself. */
  signal?: AbortSignal;
  /**
   * Bound on store calls in flight on the connection (default 256); more wait
   * in a queue, their deadline running. Shared by every store on the same
   * connection: the first store opened on a connection sets it.
   */
  maxInFlight?: number;
  /**
   * Fencing tokens already issued for leases in this bucket must stay below
   * every new one, also when the bucket was lost and recreated while no
   * running process remembers it. Feed it from the protected resource's
   * persisted high-water mark (`FencingGuard.highestOverall()`). When the
   * bucket's last revision is below it, `open` treats the bucket as lost and
   * recovers it (see docs/safety.md, "A lost bucket"). Default 0.
   */
  tokenFloor?: number;
}

/** Stream create lost to a concurrent create of the same bucket: 10065 subjects overlap, 10058 name already in use. */
const CREATE_RACE = new Set([10058, 10065]);

/** An open, checked bucket and the settings the store runs with. */
export interface OpenedBucket {
  kv: KV;
  jsm: JetStreamManager;
  /** The bucket's stream as `open` found it. */
  info: StreamInfo;
  /** Creates the stream with the store's settings (a recovery recreates it so); `null` with `create: false`. */
  createStream: (() => Promise<KV>) | null;
  timeoutMs: number;
  maxInFlight: number;
  tokenFloor: number;
}

/** Checks the options, creates (or binds to) the bucket and checks it is safe to use. */
export async function openBucket(nc: NatsConnection, opts: NatsLeaseStoreOptions): Promise<OpenedBucket> {
  const timeoutMs = opts.timeoutMs ?? 2_000;
  if (!/^[-\w]+$/.test(opts.bucket)) throw new ConfigError("bucket", `invalid bucket name ${JSON.stringify(opts.bucket)}`);
  if (!(timeoutMs > 0)) throw new ConfigError("timeoutMs", `must be positive, got ${timeoutMs}`);
  const maxInFlight = opts.maxInFlight ?? 256;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new ConfigError("maxInFlight", `must be a positive integer, got ${maxInFlight}`);
  const tokenFloor = opts.tokenFloor ?? 0;
  if (!Number.isSafeInteger(tokenFloor) || tokenFloor < 0) throw new ConfigError("tokenFloor", `must be a non-negative integer, got ${tokenFloor}`);
  const js = jetstream(nc, { timeout: timeoutMs });
  const kvm = new Kvm(js);
  const jsm = await guard({ op: "open" }, opts.bucket, timeoutMs, opts.signal, () => jetstreamManager(nc, { timeout: timeoutMs }));
  const placement = opts.placement ? ({ ...opts.placement } as Placement) : undefined;
  const createStream =
    opts.create === false
      ? null
      : () =>
          kvm.create(opts.bucket, {
            history: 1,
            storage: StorageType.File,
            replicas: opts.replicas ?? 1,
            allow_direct: false,
            ...(placement ? { placement } : {}),
          });
  const kv = await guard({ op: "open" }, opts.bucket, timeoutMs, opts.signal, async () => {
    if (!createStream) return kvm.open(opts.bucket, { allow_direct: false });
    try {
      return await createStream();
    } catch (err) {
      // Another client created the stream at the same moment and won (the
      // server answers the loser "subjects overlap" or "name already in
      // use"): create again, which accepts the existing stream as is.
      if (!CREATE_RACE.has(apiCode(err) ?? 0)) throw err;
      return createStream();
    }
  });
  // Binding never talks to the server, and create() accepts an existing
  // stream as is, so look at what is really there.
  const status = await guard({ op: "open" }, opts.bucket, timeoutMs, opts.signal, () => kv.status());
  const cfg = status.streamInfo.config;
  const unsafe = unsafeBucketConfig(opts.bucket, cfg);
  if (unsafe) throw unsafe;
  return { kv, jsm, info: status.streamInfo, createStream, timeoutMs, maxInFlight, tokenFloor };
}

/**
 * Runs `open` again while it fails with a {@link StoreUnavailableError}
 * (a JetStream cluster still electing its meta leader, an R3 stream creation
 * that outlasts the timeout), with backoff up to 2 s, until `signal` fires.
 * Other errors (a TTL bucket, a missing bucket with `create: false`) are final.
 */
export async function retryUnavailable<T>(open: () => Promise<T>, signal: AbortSignal | undefined, onRetry: (err: StoreUnavailableError, attempt: number) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await open();
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || signal?.aborted) throw err;
      onRetry(err, attempt);
      const ms = Math.min(2_000, 250 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      await sleep(ms, signal);
      throwIfAborted(signal);
    }
  }
}
