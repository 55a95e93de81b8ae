/**
 * A store call ends at its deadline or abort, and sends nothing afterwards.
 *
 * The conditional write's slow path on a replicated bucket (read the stream's
 * last sequence, read the key, publish, repeat) used to keep running after its
 * caller had given up: a renewal attempt abandoned by the election (its
 * per-attempt timeout aborts the signal), or a grant given up by the scope
 * authority, could still land later, unrecorded and unannounced. Here the
 * stream leader is held up with SIGSTOP while a `create` waits on it; the
 * caller aborts; the leader resumes; no write for that call may be sent.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AbortedError, StoreUnavailableError } from "../../src/errors.js";
import { serverIndex, startNatsCluster, waitFor, waitForStreamLeader, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import { NatsLeaseStore } from "../../src/lease/nats-store.js";

let cluster: NatsServerHandle;
let nc: NatsConnection;
let store: NatsLeaseStore;
let leaderIdx = -1;
const enc = (s: string) => new TextEncoder().encode(s);

beforeAll(async () => {
  cluster = await startNatsCluster({ size: 3, name: "slowpath" });
  const boot = await connect({ servers: cluster.urls });
  // Long store timeout: the caller's signal, not the store's own deadline, ends the call.
  await NatsLeaseStore.open(boot, { bucket: "slow", replicas: 3 });
  await boot.close();
  const lead = await waitForStreamLeader(cluster, "KV_slow");
  leaderIdx = serverIndex(cluster, lead);
  // Talk to a server that is not the stream leader, so it keeps answering while the leader is stopped.
  nc = await connect({ servers: cluster.urls.filter((_, i) => i !== leaderIdx) });
  store = await NatsLeaseStore.open(nc, { bucket: "slow", replicas: 3, timeoutMs: 8_000, create: false });
});

afterAll(async () => {
  if (leaderIdx >= 0) await cluster?.kill(leaderIdx, "SIGCONT").catch(() => undefined);
  await nc?.close().catch(() => undefined);
  await cluster?.stop();
});

/** Every publish to `subject` seen by a plain subscriber, with its arrival time. */
function recordPublishes(subject: string): { times: number[]; stop(): void } {
  const times: number[] = [];
  const sub = nc.subscribe(subject, { callback: () => void times.push(Date.now()) });
  return { times, stop: () => sub.unsubscribe() };
}

describe("NatsLeaseStore: calls end at their deadline or abort, slow path included", () => {
  it("an aborted create on a held-up replicated stream rejects at the abort and sends no write afterwards", async () => {
    expect(await store.create("warm", enc("w"))).toBeGreaterThan(0);
    const seen = recordPublishes("$KV.slow.late");
    await nc.flush();
    await cluster.kill(leaderIdx, "SIGSTOP");
    const ac = new AbortController();
    const t0 = Date.now();
    const pending = store.create("late", enc("zombie"), { signal: ac.signal }).catch((e: unknown) => e);
    setTimeout(() => ac.abort(), 200);
    const err = await pending;
    const abortedAt = Date.now();
    expect(err).toBeInstanceOf(AbortedError);
    expect(abortedAt - t0).toBeLessThan(2_000);

    // The leader resumes: whatever the call had in flight now gets its answer.
    await cluster.kill(leaderIdx, "SIGCONT");
    await waitFor(async () => ((await store.get("warm").catch(() => null)) ? true : undefined), { timeoutMs: 20_000, intervalMs: 100, what: "the stream answering again" });
    // Not a synchronising sleep: absence has no event to wait for and can only
    // be bounded. Give a loop that is still running well over its back-off
    // plus two round trips to send its write.
    await new Promise((r) => setTimeout(r, 1_500));
    seen.stop();
    expect(seen.times.filter((t) => t >= abortedAt)).toEqual([]);
    expect(await store.get("late")).toBeNull();
  });

  it("a call whose own deadline passes on the held-up stream rejects at the deadline, and sends no write afterwards", async () => {
    const short = await NatsLeaseStore.open(nc, { bucket: "slow", replicas: 3, timeoutMs: 300, create: false });
    const seen = recordPublishes("$KV.slow.late2");
    await nc.flush();
    await cluster.kill(leaderIdx, "SIGSTOP");
    const t0 = Date.now();
    const err = await short.create("late2", enc("zombie")).catch((e: unknown) => e);
    const gaveUpAt = Date.now();
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(gaveUpAt - t0).toBeLessThan(1_500);
    await cluster.kill(leaderIdx, "SIGCONT");
    await waitFor(async () => ((await store.get("warm").catch(() => null)) ? true : undefined), { timeoutMs: 20_000, intervalMs: 100, what: "the stream answering again" });
    // Not a synchronising sleep: an absence has no event to wait for, only a bound (as above).
    await new Promise((r) => setTimeout(r, 1_500));
    seen.stop();
    expect(seen.times.filter((t) => t >= gaveUpAt)).toEqual([]);
    expect(await store.get("late2")).toBeNull();
  });
});
