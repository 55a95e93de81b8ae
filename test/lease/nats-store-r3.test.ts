/**
 * Compare-and-set on a replicated (R3) bucket must have exactly one winner.
 * nats-server 2.9.10's per-subject check (what the KV client's update/create
 * use) lets several concurrent writers expecting the same revision all win on
 * R3; NatsLeaseStore uses the stream-wide check instead (see casWrite).
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsCluster, waitFor, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import { NatsLeaseStore } from "../../src/lease/nats-store.js";
import { jetstreamManager } from "@nats-io/jetstream";
import { BucketMissingError, ConflictError } from "../../src/errors.js";

let cluster: NatsServerHandle;
const conns: NatsConnection[] = [];
let stores: NatsLeaseStore[] = [];
const enc = (s: string) => new TextEncoder().encode(s);

beforeAll(async () => {
  cluster = await startNatsCluster({ size: 3, name: "r3cas" });
  // Two clients per server, so racing writes reach the leader from different routes.
  for (const url of [...cluster.urls, ...cluster.urls]) conns.push(await connect({ servers: url }));
  stores = [await NatsLeaseStore.open(conns[0]!, { bucket: "cas", replicas: 3 })];
  for (const nc of conns.slice(1)) stores.push(await NatsLeaseStore.open(nc, { bucket: "cas", replicas: 3 }));
});

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => undefined);
  await cluster?.stop();
});

describe("NatsLeaseStore on an R3 bucket", () => {
  it("concurrent updates expecting the same revision: exactly one winner, every round", async () => {
    const rounds = 60;
    let multi = 0;
    for (let i = 0; i < rounds; i++) {
      const rev = i === 0 ? await stores[0]!.create("k", enc("0")) : (await stores[0]!.get("k"))!.revision;
      const res = await Promise.allSettled(stores.map((s, j) => s.update("k", enc(`w${i}.${j}`), rev)));
      const wins = res.filter((r) => r.status === "fulfilled").length;
      if (wins !== 1) multi++;
      for (const r of res) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(ConflictError);
    }
    expect(multi).toBe(0);
  });

  it("concurrent creates of an absent key: exactly one winner", async () => {
    for (let i = 0; i < 20; i++) {
      const res = await Promise.allSettled(stores.map((s, j) => s.create(`fresh${i}`, enc(`c${j}`))));
      expect(res.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    }
  });

  it("writes to other keys in the bucket do not make a holder's CAS fail (slow path)", async () => {
    let rev = await stores[0]!.create("holder", enc("h"));
    const noise = (async () => {
      for (let i = 0; i < 50; i++) await stores[1]!.create(`noise${i}`, enc("n"));
    })();
    for (let i = 0; i < 50; i++) rev = await stores[0]!.update("holder", enc(`h${i}`), rev);
    await noise;
    expect((await stores[2]!.get("holder"))!.revision).toBe(rev);
  });

  it("after the R3 bucket is lost and recovered above its old revisions, CAS still has exactly one winner", async () => {
    // nats-server 2.9.10 keeps the stream-wide check counting from the old
    // sequence after the purge that raises it, until a write resynchronises
    // it (bucket-epoch.ts): the store must leave the bucket usable.
    const lost = [await NatsLeaseStore.open(conns[0]!, { bucket: "cas-lost", replicas: 3, timeoutMs: 5_000 })];
    for (const nc of conns.slice(1)) lost.push(await NatsLeaseStore.open(nc, { bucket: "cas-lost", replicas: 3, timeoutMs: 5_000 }));
    let rev = await lost[0]!.create("k", enc("0"));
    for (let i = 0; i < 10; i++) rev = await lost[0]!.update("k", enc(`${i}`), rev);
    await (await jetstreamManager(conns[1]!)).streams.delete("KV_cas-lost");
    await expect(lost[0]!.get("k")).rejects.toBeInstanceOf(BucketMissingError);
    const held = (await lost[0]!.get("k"))!;
    expect(held.revision).toBeGreaterThan(rev);
    // Every store takes the never-written key by CAS on the genesis revision: one winner.
    const res = await Promise.allSettled(lost.map((s, j) => s.update("k", enc(`t${j}`), held.revision)));
    expect(res.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of res) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(ConflictError);
    let cur = (await lost[2]!.get("k"))!.revision;
    expect(cur).toBeGreaterThan(held.revision);
    for (let i = 0; i < 10; i++) {
      const round = await Promise.allSettled(lost.map((s, j) => s.update("k", enc(`w${i}.${j}`), cur)));
      expect(round.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      cur = (await lost[0]!.get("k"))!.revision;
    }
  });

  /** Rounds of every store updating `key` expecting the same revision; returns how many rounds had more than one winner. */
  async function racedRounds(group: NatsLeaseStore[], key: string, rounds: number): Promise<number> {
    let multi = 0;
    for (let i = 0; i < rounds; i++) {
      const rev = (await group[0]!.get(key))!.revision;
      const res = await Promise.allSettled(group.map((s, j) => s.update(key, enc(`r${i}.${j}`), rev)));
      if (res.filter((r) => r.status === "fulfilled").length !== 1) {
        multi++;
        console.log(`round ${i}: ${res.map((r) => (r.status === "fulfilled" ? `won ${r.value}` : (r.reason as Error).message)).join("; ")}`);
      }
    }
    return multi;
  }

  it("review finding 3: an R1 bucket lost and recreated as R3 by another process: the recovered stores switch to the exact check", async () => {
    const group: NatsLeaseStore[] = [];
    for (const nc of conns) group.push(await NatsLeaseStore.open(nc, { bucket: "grow", replicas: 1, timeoutMs: 5_000 }));
    let rev = await group[0]!.create("k", enc("0"));
    for (let i = 0; i < 5; i++) rev = await group[0]!.update("k", enc(`${i}`), rev);
    const jsm = await jetstreamManager(conns[1]!);
    await jsm.streams.delete("KV_grow");
    // Someone else recreates it, replicated, before any of the stores looks.
    await (await NatsLeaseStore.open(conns[2]!, { bucket: "grow", replicas: 3, timeoutMs: 5_000 })).get("other");
    expect((await jsm.streams.info("KV_grow")).config.num_replicas).toBe(3);
    const held = (await group[0]!.get("k"))!; // recovers: the never-written key is held at the genesis revision
    expect(held.revision).toBeGreaterThan(rev);
    await group[0]!.update("k", enc("taken"), held.revision);
    // With the per-key check R3 gives several winners in most rounds (135 of 150 measured).
    expect(await racedRounds(group, "k", 30)).toBe(0);
  });

  it("review finding 3: an operator edits a live R1 bucket to R3: the stores notice and switch to the exact check", async () => {
    const group: NatsLeaseStore[] = [];
    for (const nc of conns) group.push(await NatsLeaseStore.open(nc, { bucket: "edit", replicas: 1, timeoutMs: 5_000 }));
    let rev = await group[0]!.create("k", enc("0"));
    const jsm = await jetstreamManager(conns[0]!);
    const info = await jsm.streams.info("KV_edit");
    await jsm.streams.update("KV_edit", { ...info.config, num_replicas: 3 });
    // The scale-up moves the stream to a new leader: wait until it answers again.
    await waitFor(async () => ((await jsm.streams.info("KV_edit")).cluster?.replicas?.filter((r) => r.current).length ?? 0) >= 2 || undefined, {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: "the edited stream to have its replicas",
    });
    await waitFor(() => group[0]!.get("k", { signal: AbortSignal.timeout(1_000) }).catch(() => undefined), { timeoutMs: 30_000, intervalMs: 100, what: "the edited stream to answer" });
    // Every store writes (or fails) once, after the edit: no store goes on trusting the R1 it read at open.
    for (const s of group) rev = await s.update("k", enc("w"), rev).catch(async () => (await s.get("k"))!.revision);
    expect(await racedRounds(group, "k", 30)).toBe(0);
  });
});
