/**
 * A lost and recreated bucket, at the store (real nats-server 2.9): revisions
 * never go backwards, a never-written key reads as held at the genesis
 * revision (a full lease of waiting before anyone takes it), old conditional
 * writes cannot match, and a bucket already written below the token floor is
 * refused with a clear error. See docs/safety.md, "A lost bucket".
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BucketMissingError, ConfigError, ConflictError, TokenFloorError } from "../../src/errors.js";
import { startNatsServer, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import { NatsLeaseStore } from "../../src/lease/nats-store.js";
import { AckPublisher } from "../../src/lease/ack-publisher.js";
import { recoverBucket } from "../../src/lease/bucket-epoch.js";
import { monotonicNowMs } from "../../src/util/clock.js";
import { viewOf } from "../../src/lease/record.js";
import { type StoreEntry } from "../../src/lease/store.js";
import { GENESIS_KEY } from "../../src/wire/names.js";

const enc = (s: string) => new TextEncoder().encode(s);
let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const deleteStream = async (bucket: string) => (await jetstreamManager(nc)).streams.delete(`KV_${bucket}`);

describe("NatsLeaseStore after its bucket is lost", () => {
  it("recreates it above every revision it saw; never-written keys read as held at the genesis revision", async () => {
    const store = await NatsLeaseStore.open(nc, { bucket: "epoch" });
    const r1 = await store.create("k", enc("1"));
    const r2 = await store.update("k", enc("2"), r1);
    for (let i = 0; i < 5; i++) await store.create(`other.${i}`, enc("x"));
    const seen = store.tokenHighWater;
    expect(seen).toBe(r2 + 5);
    const before = new AbortController();
    const it = store.watch("k", { signal: before.signal })[Symbol.asyncIterator]();
    expect((await it.next()).value?.revision).toBe(r2);
    await deleteStream("epoch");

    await expect(store.get("k")).rejects.toBeInstanceOf(BucketMissingError);
    // The old watch's consumer died with the stream and would stay silent: it ends, so watchers re-watch.
    const ended = await Promise.race([it.next().catch((e: unknown) => e), new Promise((r) => setTimeout(() => r("still silent"), 5_000))]);
    expect(ended).toBeInstanceOf(BucketMissingError);
    before.abort();
    // The next call recovers the bucket first.
    const held = (await store.get("k")) as StoreEntry;
    expect(held.revision).toBeGreaterThan(seen);
    const v = viewOf(held);
    expect(v.state).toBe("unknown");
    expect(v.state === "unknown" && v.reason).toMatch(/recreated/);
    // An old conditional write cannot match any revision of the new bucket.
    await expect(store.update("k", enc("old"), r2)).rejects.toBeInstanceOf(ConflictError);
    // The takeover after the full-lease wait: a CAS on the genesis revision.
    const taken = await store.update("k", enc("new"), held.revision);
    expect(taken).toBeGreaterThan(held.revision);
    await expect(store.update("k2", enc("again"), held.revision)).resolves.toBeGreaterThan(taken); // another never-written key
    await expect(store.update("k", enc("twice"), held.revision)).rejects.toBeInstanceOf(ConflictError);
    // The genesis record stays out of sight, and is no lease key.
    expect((await store.keys(">")).sort()).toEqual(["k", "k2"]);
    const ac = new AbortController();
    const first = await store.watch(">", { signal: ac.signal })[Symbol.asyncIterator]().next();
    expect(first.value?.key).toBe("k");
    ac.abort();
    await expect(store.get(GENESIS_KEY)).rejects.toBeInstanceOf(ConfigError);
    // A second process bound to the bucket sees the same.
    const other = await NatsLeaseStore.open(nc, { bucket: "epoch" });
    expect((await other.get("never"))?.revision).toBe(held.revision);
  });

  it("a process that never knew the old bucket recreated it: the store notices the lower sequence and raises it", async () => {
    const store = await NatsLeaseStore.open(nc, { bucket: "epoch2" });
    let rev = await store.create("k", enc("1"));
    for (let i = 0; i < 5; i++) rev = await store.update("k", enc(`${i}`), rev);
    await deleteStream("epoch2");
    await NatsLeaseStore.open(nc, { bucket: "epoch2" }); // knows nothing: an empty bucket at sequence 0
    const held = (await store.get("k")) as StoreEntry;
    expect(held.revision).toBeGreaterThan(rev);
    expect(viewOf(held).state).toBe("unknown");
  });

  it("tokenFloor: a fresh store raises an empty recreated bucket above it; at or below the bucket's revisions it changes nothing", async () => {
    await new Kvm(nc).create("epoch3", { history: 1, storage: StorageType.File });
    const fresh = await NatsLeaseStore.open(nc, { bucket: "epoch3", tokenFloor: 500 });
    const held = (await fresh.get("k")) as StoreEntry;
    expect(held.revision).toBe(501);
    expect(await fresh.update("k", enc("v"), 501)).toBe(502);
    const again = await NatsLeaseStore.open(nc, { bucket: "epoch3", tokenFloor: 502 });
    expect((await again.get("k"))?.revision).toBe(502);
    expect((await again.get("fresh"))?.revision).toBe(501); // the genesis is still there
    await expect(NatsLeaseStore.open(nc, { bucket: "epoch3", tokenFloor: -1 })).rejects.toBeInstanceOf(ConfigError);
  });

  it("a recreated bucket already written to below the floor is refused with TokenFloorError (it cannot be raised without deleting records)", async () => {
    const kv = await new Kvm(nc).create("epoch4", { history: 1, storage: StorageType.File });
    await kv.create("someone", enc("took it at once"));
    const err = await NatsLeaseStore.open(nc, { bucket: "epoch4", tokenFloor: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenFloorError);
    expect((err as TokenFloorError).message).toMatch(/floor 100.*last revision is 1/);
    expect((await kv.get("someone"))?.revision).toBe(1); // nothing was removed
  });

  it("recoverers with different floors, racing after a loss: the one that knew more raises the bucket again while it holds only a fresh genesis record", async () => {
    const low = await NatsLeaseStore.open(nc, { bucket: "epoch5" });
    const high = await NatsLeaseStore.open(nc, { bucket: "epoch5" });
    await low.create("k", enc("0"));
    let rev = await high.create("j", enc("0"));
    for (let i = 0; i < 5; i++) rev = await high.update("j", enc(`${i}`), rev); // high has seen more than low
    await deleteStream("epoch5");
    await expect(high.get("j")).rejects.toBeInstanceOf(BucketMissingError); // high learns of the loss now
    await expect(low.get("k")).rejects.toBeInstanceOf(BucketMissingError);
    const lowGenesis = (await low.get("k"))!.revision; // low recovers first, below what high saw
    expect(lowGenesis).toBeLessThanOrEqual(rev);
    // high saw the bucket missing a moment ago, so that genesis is younger than any lease: raising it removes nothing anyone relies on.
    const g = (await high.get("k"))!.revision;
    expect(g).toBeGreaterThan(rev);
    // The lower genesis is gone: a takeover waiting on it fails, and restarts on the new one.
    await expect(low.update("k", enc("v"), lowGenesis)).rejects.toBeInstanceOf(ConflictError);
    expect((await low.get("k"))?.revision).toBe(g);
    expect(await low.update("k", enc("v"), g)).toBe(g + 1);
    // Now it holds a lease record: a store that knew even more must refuse rather than delete it.
    await expect(NatsLeaseStore.open(nc, { bucket: "epoch5", tokenFloor: 200 })).rejects.toBeInstanceOf(TokenFloorError);
    expect((await low.get("k"))?.revision).toBe(g + 1);
  });

  it("review finding 5: a genesis of unknown age written by a recoverer that knew less is refused, not purged (a takeover may be landing under it)", async () => {
    await new Kvm(nc).create("epoch6", { history: 1, storage: StorageType.File });
    const low = await NatsLeaseStore.open(nc, { bucket: "epoch6", tokenFloor: 50 });
    expect((await low.get("k"))?.revision).toBe(51);
    // A store restarting later with a higher floor cannot know how long that genesis has been visible:
    // a follower may have waited a full lease on it and be taking the key right now.
    const err = await NatsLeaseStore.open(nc, { bucket: "epoch6", tokenFloor: 80 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenFloorError);
    expect((err as Error).message).toMatch(/genesis/);
    expect(await low.update("k", enc("taken"), 51)).toBe(52); // the genesis was left alone
  });

  it("review finding 5: a record that lands between the look and the raising purge is reported (TOKEN_FLOOR), not silently erased", async () => {
    await new Kvm(nc).create("epoch7", { history: 1, storage: StorageType.File, allow_direct: false });
    const kv = await new Kvm(nc).open("epoch7", { allow_direct: false });
    const jsm = await jetstreamManager(nc);
    // Someone's write reaches the server after the recoverer saw the stream empty and before its purge.
    const racing = new Proxy(jsm.streams, {
      get: (t, p) =>
        p === "purge"
          ? async (...args: Parameters<typeof jsm.streams.purge>) => (await kv.put("k", enc("landed")), t.purge(...args))
          : (t as unknown as Record<string | symbol, unknown>)[p],
    });
    const deps = { bucket: "epoch7", stream: "KV_epoch7", jsm: { ...jsm, streams: racing } as typeof jsm, kv, publisher: AckPublisher.for(nc, 4_000), createStream: null, live: () => {}, now: monotonicNowMs };
    await expect(recoverBucket(deps, 30)).rejects.toBeInstanceOf(TokenFloorError);
  });

  it("review finding 4: recovery refuses a bucket recreated with a TTL, memory storage or a republish", async () => {
    const kvm = new Kvm(nc);
    for (const [i, opts] of [
      { ttl: 60_000 },
      { storage: StorageType.Memory },
      { republish: { src: ">", dest: "elsewhere.>" } },
    ].entries()) {
      const bucket = `epoch-cfg${i}`;
      const store = await NatsLeaseStore.open(nc, { bucket });
      await store.create("k", enc("held"));
      await deleteStream(bucket);
      await kvm.create(bucket, { history: 1, storage: StorageType.File, ...opts }); // recreated by someone else, before the store looks
      const err = await store.get("k").catch((e: unknown) => e);
      expect(err, JSON.stringify(opts)).toBeInstanceOf(ConfigError);
      await expect(store.get("k"), "it keeps refusing").rejects.toBeInstanceOf(ConfigError);
      await expect(NatsLeaseStore.open(nc, { bucket }), "so does open").rejects.toBeInstanceOf(ConfigError);
    }
  });
});
