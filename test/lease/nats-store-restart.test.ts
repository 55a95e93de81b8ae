/**
 * Q3 of the quorum lease (docs/quorum.md) on a real nats-server: an R1 bucket
 * that lost acknowledged writes hands their revisions out again, so a CAS
 * expecting a revision from before the loss would match a different record.
 * The store must fail the caller's first call after such a loss instead.
 */
import { cpSync, rmSync } from "node:fs";
import { connect, type NatsConnection, type Status } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterEach, describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/errors.js";
import { startNatsServer, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import { NatsLeaseStore } from "../../src/lease/nats-store.js";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

const natsConnect = (url: string) => connect({ servers: url, reconnectTimeWait: 100, maxReconnectAttempts: -1, timeout: 2_000 });

/** Resolves at the connection's next reconnect. */
function nextReconnect(nc: NatsConnection): Promise<void> {
  const it = nc.status() as AsyncIterable<Status> & { stop?: () => void };
  return (async () => {
    for await (const s of it) if (s.type === "reconnect") break;
    it.stop?.();
  })();
}

/** Retries `f` until it succeeds (the first calls after a restart fail, by design). */
async function untilOk<T>(f: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await f();
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

let own: NatsServerHandle | undefined;
const conns: NatsConnection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) await c.close();
  await own?.stop();
  own = undefined;
});

describe("NatsLeaseStore on R1: a store that lost acknowledged writes fails the next call (Q3)", () => {
  it("after a restart from an older copy of the store dir, a stale CAS fails instead of matching a reused revision", async () => {
    own = await startNatsServer();
    const [ncA, ncB] = [await natsConnect(own.url), await natsConnect(own.url)];
    conns.push(ncA, ncB);
    const a = await NatsLeaseStore.open(ncA, { bucket: "lossy" });
    const b = await NatsLeaseStore.open(ncB, { bucket: "lossy" });
    const r1 = await a.create("k", enc("A1"));

    // A restart with nothing lost, taking a copy of the store dir meanwhile.
    const dir = own.servers[0]!.storeDir;
    let back = [nextReconnect(ncA), nextReconnect(ncB)];
    await own.kill(0, "SIGKILL");
    cpSync(dir, `${dir}.old`, { recursive: true });
    await own.restart(0);
    await Promise.all(back);
    expect((await untilOk(() => a.get("k")))?.revision).toBe(r1);
    const r2 = await a.update("k", enc("A2"), r1);

    // Restart from the older copy: the write of r2 is lost.
    back = [nextReconnect(ncA), nextReconnect(ncB)];
    await own.kill(0, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    cpSync(`${dir}.old`, dir, { recursive: true });
    await own.restart(0);
    await Promise.all(back);

    // B reads the truth and writes: revision r2 again, a different record.
    const seen = await untilOk(() => b.get("k"));
    expect(seen?.revision).toBe(r1);
    expect(dec(seen!.value)).toBe("A1");
    expect(await b.update("k", enc("B"), r1)).toBe(r2);

    // A still believes k is its own record at r2: its stale CAS must not win.
    await expect(a.update("k", enc("A-stale"), r2)).rejects.toBeInstanceOf(StoreUnavailableError);
    const now = await a.get("k");
    expect(now?.revision).toBe(r2);
    expect(dec(now!.value)).toBe("B");
    rmSync(`${dir}.old`, { recursive: true, force: true });
  });

  it("a stream recreated behind the store's back (same connection) fails the next CAS, then a re-read shows the new record", async () => {
    own = await startNatsServer();
    const nc = await natsConnect(own.url);
    const other = await natsConnect(own.url);
    conns.push(nc, other);
    const a = await NatsLeaseStore.open(nc, { bucket: "recreated" });
    const r1 = await a.create("k", enc("A1"));
    const r2 = await a.update("k", enc("A2"), r1);

    await (await jetstreamManager(other)).streams.delete("KV_recreated");
    const kv = await new Kvm(jetstream(other)).create("recreated", { history: 1, storage: StorageType.File, allow_direct: false });
    await kv.put("k", enc("X1"));
    expect(await kv.put("k", enc("X2"))).toBe(r2);

    await expect(a.update("k", enc("A-stale"), r2)).rejects.toBeInstanceOf(StoreUnavailableError);
    const now = await a.get("k");
    expect(now?.revision).toBe(r2);
    expect(dec(now!.value)).toBe("X2");
    // Only the first call fails: a CAS on what was just read goes through.
    expect(await a.update("k", enc("A3"), r2)).toBe(r2 + 1);
  });
});
