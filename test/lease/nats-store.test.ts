import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AbortedError, BucketMissingError, ConfigError, StoreUnavailableError } from "../../src/errors.js";
import { startNatsServer, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import { NatsLeaseStore } from "../../src/lease/nats-store.js";
import { storeContract } from "./store-contract.js";

const enc = (s: string) => new TextEncoder().encode(s);

// The store must never leave a rejection unhandled, whatever the server does.
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
process.on("unhandledRejection", onUnhandled);

function natsConnect(url: string): Promise<NatsConnection> {
  // Fast reconnects so restarts are picked up quickly; never give up.
  return connect({ servers: url, reconnectTimeWait: 100, maxReconnectAttempts: -1, timeout: 2_000 });
}

let server: NatsServerHandle;
let nc: NatsConnection;
let bucketSeq = 0;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await natsConnect(server.url);
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
  process.off("unhandledRejection", onUnhandled);
  expect(unhandled).toEqual([]);
});

storeContract("NatsLeaseStore (nats-server, single node)", async () => {
  const bucket = `contract-${++bucketSeq}`;
  const store = await NatsLeaseStore.open(nc, { bucket });
  return {
    store,
    cleanup: async () => {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(`KV_${bucket}`);
    },
    loseBucket: async () => {
      await (await jetstreamManager(nc)).streams.delete(`KV_${bucket}`);
      // The first call finds it gone; the next one recovers it.
      await expect(store.get("lease.a")).rejects.toBeInstanceOf(BucketMissingError);
    },
  };
});

describe("NatsLeaseStore bucket checks", () => {
  it("creates a FILE, history 1, no-TTL, non-direct bucket", async () => {
    await NatsLeaseStore.open(nc, { bucket: "shape" });
    const jsm = await jetstreamManager(nc);
    const { config } = await jsm.streams.info("KV_shape");
    expect(config.storage).toBe("file");
    expect(config.max_msgs_per_subject).toBe(1);
    expect(config.max_age).toBe(0);
    expect(config.allow_direct).toBe(false);
  });

  // Found by CI (bucket-loss.test.ts): three candidates opening one new
  // bucket at once; the loser of the stream create got "subjects overlap
  // with an existing stream" (10065) and its open failed.
  it("many clients creating the same new bucket at once all open it", async () => {
    const conns = await Promise.all(Array.from({ length: 6 }, () => natsConnect(server.url)));
    try {
      for (let round = 0; round < 5; round++) {
        const bucket = `race-${round}`;
        const opened = await Promise.allSettled(conns.flatMap((c) => [0, 1].map(() => NatsLeaseStore.open(c, { bucket }))));
        expect(opened.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
      }
    } finally {
      await Promise.all(conns.map((c) => c.close()));
    }
  });

  it("binding a missing bucket with create:false is a BucketMissingError", async () => {
    await expect(NatsLeaseStore.open(nc, { bucket: "never-made", create: false })).rejects.toBeInstanceOf(BucketMissingError);
  });

  it("refuses a bucket with a TTL", async () => {
    await new Kvm(nc).create("with-ttl", { ttl: 60_000 });
    await expect(NatsLeaseStore.open(nc, { bucket: "with-ttl" })).rejects.toBeInstanceOf(ConfigError);
    await expect(NatsLeaseStore.open(nc, { bucket: "with-ttl", create: false })).rejects.toBeInstanceOf(ConfigError);
  });

  it("a bucket deleted under a store that may not create it gives BucketMissingError for reads, writes and watches", async () => {
    await NatsLeaseStore.open(nc, { bucket: "doomed" });
    const store = await NatsLeaseStore.open(nc, { bucket: "doomed", create: false });
    const r1 = await store.create("k", enc("v"));
    await (await jetstreamManager(nc)).streams.delete("KV_doomed");
    await expect(store.get("k")).rejects.toBeInstanceOf(BucketMissingError);
    // a publish to the bucket's subject has no responders; the store asks for the stream to tell "gone" from "down"
    await expect(store.create("k2", enc("v"))).rejects.toBeInstanceOf(BucketMissingError);
    await expect(store.update("k", enc("v"), r1)).rejects.toBeInstanceOf(BucketMissingError);
    await expect(store.delete("k", r1)).rejects.toBeInstanceOf(BucketMissingError);
    await expect(store.keys(">")).rejects.toBeInstanceOf(BucketMissingError);
    const ac = new AbortController();
    await expect(store.watch(">", { signal: ac.signal })[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(BucketMissingError);
  });
});

describe("NatsLeaseStore: a never-written key in a busy bucket", () => {
  // Regression: the lost-bucket check compared the stream's last sequence
  // with the highest revision seen *when the reply came*, so a write acked
  // while the stream-info request was in flight made a live bucket look
  // recreated: the store recovered it, and never-written keys read as held
  // (at the genesis revision) for a full lease. Seen at 1,000 elections
  // starting at once in one process (about half the runs).
  it("reads as vacant while other keys are being written, and the bucket is never recovered", async () => {
    const store = await NatsLeaseStore.open(nc, { bucket: `busy-${++bucketSeq}` });
    await store.create("first", enc("x")); // the store has seen a revision: the lost-bucket check applies
    let writing = true;
    let n = 0;
    // Writes keep being acked while the reads' stream-info requests are in flight.
    const writer = (async () => {
      while (writing) await Promise.all(Array.from({ length: 64 }, () => store.create(`w.${n++}`, enc("x"))));
    })();
    for (let round = 0; round < 80; round++) {
      const got = await Promise.all(Array.from({ length: 50 }, (_, i) => store.get(`r${round}.${i}`)));
      expect(got.filter((e) => e !== null).map((e) => `${e!.key}@${e!.revision}`)).toEqual([]);
    }
    writing = false;
    await writer;
  });
});

describe("NatsLeaseStore: the R1 stream-config read before each write", () => {
  it("is shared by the writes of one turn: 50 concurrent writes send one read, a later write its own", async () => {
    const bucket = `shared-cfg-${++bucketSeq}`;
    const store = await NatsLeaseStore.open(nc, { bucket });
    const keys = Array.from({ length: 50 }, (_, i) => `lease.k${i}`);
    const revs = await Promise.all(keys.map((k) => store.create(k, enc("v"))));
    // Count the stream-info requests the store sends, as the server sees them.
    const infos = nc.subscribe(`$JS.API.STREAM.INFO.KV_${bucket}`);
    let seen = 0;
    void (async () => {
      for await (const _ of infos) seen++;
    })();
    await nc.flush();
    const next = await Promise.all(keys.map((k, i) => store.update(k, enc("w"), revs[i]!)));
    // One more write later: a read of its own, not the earlier one.
    await store.update(keys[0]!, enc("x"), next[0]!);
    await nc.flush();
    infos.unsubscribe();
    // 50 concurrent writes: one read each before (51 in all); shared, a few.
    expect(seen).toBeGreaterThanOrEqual(2);
    expect(seen).toBeLessThanOrEqual(5);
  });
});

describe("NatsLeaseStore across server failures (own server)", () => {
  let own: NatsServerHandle | undefined;
  let ownNc: NatsConnection | undefined;

  afterEach(async () => {
    await ownNc?.close().catch(() => undefined);
    await own?.stop();
    own = undefined;
    ownNc = undefined;
  });

  it("revisions survive SIGKILL and restart with the same store dir", async () => {
    own = await startNatsServer();
    ownNc = await natsConnect(own.url);
    const store = await NatsLeaseStore.open(ownNc, { bucket: "durable" });
    const r1 = await store.create("a", enc("1"));
    const r2 = await store.update("a", enc("2"), r1);
    await store.delete("a", r2);
    const r4 = await store.create("b", enc("x"));
    await own.kill(0, "SIGKILL");
    await own.restart(0);
    const c = ownNc;
    // the client reconnects on its own; wait until the store answers again
    await expect.poll(() => store.get("b").then((e) => e?.revision, () => "down"), { timeout: 15_000, interval: 100 }).toBe(r4);
    const r5 = await store.update("b", enc("y"), r4);
    expect(r5).toBe(r4 + 1);
    // R1 across a server restart: the first call on each key fails (docs/quorum.md, Q3), then it answers.
    await expect(store.get("a")).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await store.get("a")).toMatchObject({ operation: "delete", revision: r2 + 1 }); // the marker survived the restart
    expect(await store.create("a", enc("again"))).toBe(r5 + 1);
    expect(c.isClosed()).toBe(false);
  });

  it("a dead server gives StoreUnavailableError within the timeout, aborts are honoured, watches end with StoreUnavailableError", async () => {
    own = await startNatsServer();
    ownNc = await natsConnect(own.url);
    const store = await NatsLeaseStore.open(ownNc, { bucket: "fragile", timeoutMs: 1_000 });
    const r1 = await store.create("a", enc("1"));
    const ac = new AbortController();
    const it = store.watch(">", { signal: ac.signal })[Symbol.asyncIterator]();
    expect((await it.next()).value?.revision).toBe(r1);
    const watchEnd = it.next().then(
      (r) => ({ done: r.done, error: undefined as unknown }),
      (error: unknown) => ({ done: true, error }),
    );

    await own.kill(0, "SIGKILL");
    const w = await watchEnd;
    expect(w.error).toBeInstanceOf(StoreUnavailableError);

    for (const call of [() => store.get("a"), () => store.create("b", enc("x")), () => store.update("a", enc("2"), r1), () => store.keys(">")]) {
      const t0 = Date.now();
      const err = await call().catch((e: unknown) => e);
      const took = Date.now() - t0;
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(took).toBeLessThan(2_500); // timeoutMs plus slack: never hangs
    }

    const abort = new AbortController();
    const t0 = Date.now();
    const pending = store.get("a", { signal: abort.signal });
    setTimeout(() => abort.abort(), 50);
    await expect(pending).rejects.toBeInstanceOf(AbortedError);
    expect(Date.now() - t0).toBeLessThan(900);
    ac.abort();
  });
});

describe("NatsLeaseStore at scale: one watch per store, bounded calls", () => {
  it("serves many key watchers from one consumer, late joiners get the current entry, and the consumer is released after the last one", async () => {
    const store = await NatsLeaseStore.open(nc, { bucket: "shared-watch" });
    const jsm = await jetstreamManager(nc);
    const list = async () => await jsm.consumers.list("KV_shared-watch").next();
    const consumers = async () => (await list()).length;
    // nats.js gives a watch's consumer a 5 min inactivity threshold: after the
    // watch stops the server keeps it unbound for a while, so count bound ones.
    const bound = async () => (await list()).filter((c) => c.push_bound).length;
    const revs = await Promise.all(Array.from({ length: 50 }, (_, i) => store.create(`k.${i}`, enc(`v${i}`))));
    const ac = new AbortController();
    const its = Array.from({ length: 50 }, (_, i) => store.watch(`k.${i}`, { signal: ac.signal })[Symbol.asyncIterator]());
    const firsts = await Promise.all(its.map((it) => it.next()));
    expect(firsts.map((r) => r.value?.revision)).toEqual(revs);
    expect(await consumers()).toBe(1);

    // a change reaches the watcher of that key only
    const r = await store.update("k.7", enc("changed"), revs[7]!);
    expect((await its[7]!.next()).value).toEqual(expect.objectContaining({ key: "k.7", revision: r }));
    // a late joiner sees the current entry first (from the shared watch's cache), on the same consumer
    const late = store.watch("k.7", { signal: ac.signal })[Symbol.asyncIterator]();
    expect((await late.next()).value?.revision).toBe(r);
    expect(await consumers()).toBe(1);

    ac.abort();
    await Promise.all([...its, late].map((it) => it.next()));
    await expect.poll(bound, { timeout: 20_000, interval: 250 }).toBe(0);
    expect(await consumers()).toBe(1); // never more than the one
  });

  it("rejects a bad maxInFlight, and with maxInFlight 2 still completes 200 concurrent calls", async () => {
    await expect(NatsLeaseStore.open(nc, { bucket: "limited", maxInFlight: 0 })).rejects.toBeInstanceOf(ConfigError);
    const own = await natsConnect(server.url); // the bound is per connection, set by its first store
    try {
      const store = await NatsLeaseStore.open(own, { bucket: "limited", maxInFlight: 2 });
      const revs = await Promise.all(Array.from({ length: 100 }, (_, i) => store.create(`c.${i}`, enc("x"))));
      expect(new Set(revs).size).toBe(100);
      const again = await Promise.all(revs.map((rev, i) => store.update(`c.${i}`, enc("y"), rev)));
      expect(Math.min(...again)).toBeGreaterThan(Math.max(...revs));
    } finally {
      await own.close();
    }
  });
});

describe("NatsLeaseStore.openRetrying", () => {
  it("keeps trying while the server is down and opens once it is up; stops at once on a final error", async () => {
    const own = await startNatsServer();
    const c = await natsConnect(own.url);
    try {
      await own.kill(0, "SIGKILL");
      const retries: number[] = [];
      const opening = NatsLeaseStore.openRetrying(c, { bucket: "late", timeoutMs: 500 }, (_err, attempt) => {
        retries.push(attempt);
        if (attempt === 2) void own.restart(0);
      });
      const store = await opening;
      expect(retries.length).toBeGreaterThanOrEqual(2);
      expect(await store.create("k", enc("v"))).toBeGreaterThan(0);
      await expect(NatsLeaseStore.openRetrying(c, { bucket: "absent", create: false })).rejects.toBeInstanceOf(BucketMissingError);
      const ac = new AbortController();
      await own.kill(0, "SIGKILL");
      const aborted = NatsLeaseStore.openRetrying(c, { bucket: "late2", timeoutMs: 300, signal: ac.signal }, () => ac.abort());
      await expect(aborted).rejects.toBeInstanceOf(AbortedError);
    } finally {
      await c.close();
      await own.stop();
    }
  });
});
