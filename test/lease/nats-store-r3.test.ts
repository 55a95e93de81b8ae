/**
 * Compare-and-set on a replicated (R3) bucket must have exactly one winner.
 * nats-server 2.9.10's per-subject check (what the KV client's update/create
 * use) lets several concurrent writers expecting the same revision all win on
 * R3; NatsLeaseStore uses the stream-wide check instead (see casWrite).
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsCluster, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import { NatsLeaseStore } from "../../src/lease/nats-store.js";
import { ConflictError } from "../../src/errors.js";

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
});
