/**
 * Issue 13 item 7.1 and 7.2 on real servers: an R3 bucket whose stream leader
 * is killed, then frozen (SIGSTOP) until another leader is elected, while
 *  - one holder renews its own key and readers on every server `get` it:
 *    no read started after a write was acknowledged may return an older
 *    revision (a lagging new leader would; item 1);
 *  - racers CAS one contended key while noise writers keep the stream's last
 *    sequence moving, so most CASes go through `casWrite`'s slow path (stream
 *    info, then get, then a write expecting both): no expected revision may be
 *    won twice (two reads answered by different servers could let a second
 *    CAS through; item 2).
 * Measured on 2.9.10: stale reads DO happen (in 2 of 6 runs: a stream leader
 * frozen until another was elected answers `get`s from its old state for a
 * moment after it resumes, e.g. revision 989 after 1518 was acknowledged), so
 * the election treats an older read as proof of nothing (machine.ts,
 * `staleRead`). A double win never happened; that is what this asserts.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverIndex, startNatsCluster, waitFor, waitForStreamLeader, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import { NatsLeaseStore } from "../../src/lease/nats-store.js";

let cluster: NatsServerHandle;
const conns: NatsConnection[] = [];
const stores: NatsLeaseStore[] = [];
const enc = (s: string) => new TextEncoder().encode(s);
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  cluster = await startNatsCluster({ size: 3, name: "r3lc" });
  // Two clients per server, each preferring its own server and failing over to the others.
  for (const url of [...cluster.urls, ...cluster.urls]) {
    const nc = await connect({ servers: [url, ...cluster.urls.filter((u) => u !== url)] });
    conns.push(nc);
    stores.push(await NatsLeaseStore.open(nc, { bucket: "lc", replicas: 3 }));
  }
}, 60_000);

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => undefined);
  await cluster?.stop();
});

describe("R3 bucket across stream-leader changes", () => {
  it("no expected revision is won twice (stale reads are counted, not failed)", async () => {
    let phase = "before the faults";
    const st = { renewals: 0, reads: 0, stale: [] as string[], wins: 0, doubles: [] as string[], slowPathNoise: 0 };
    let stop = false;
    // The holder: renews its own key; `acked` is the highest acknowledged revision.
    await stores[1]!.create("c", enc("0"));
    let own = await stores[0]!.create("holder", enc("h"));
    let acked = own;
    const holder = (async () => {
      while (!stop) {
        try {
          own = await stores[0]!.update("holder", enc("h"), own);
          acked = Math.max(acked, own);
          st.renewals++;
        } catch {
          const e = await stores[0]!.get("holder").catch(() => null);
          if (e && e.revision > own) own = acked = e.revision; // a write of ours whose reply was lost
          await pause(20);
        }
      }
    })();
    const readers = stores.slice(0, 3).map(async (s, i) => {
      while (!stop) {
        const before = acked;
        const e = await s.get("holder").catch(() => undefined);
        if (e === undefined) { await pause(20); continue; }
        st.reads++;
        if (!e || e.revision < before) st.stale.push(`${phase}: reader on ${cluster.servers[i]!.name} read ${e?.revision ?? "null"} after ${before} was acknowledged`);
        await pause(2);
      }
    });
    const won = new Map<number, number>();
    const racers = stores.map(async (s, i) => {
      while (!stop) {
        const e = await s.get("c").catch(() => null);
        if (!e) { await pause(20); continue; }
        try {
          await s.update("c", enc(`${i}`), e.revision);
          st.wins++;
          const n = (won.get(e.revision) ?? 0) + 1;
          won.set(e.revision, n);
          if (n > 1) st.doubles.push(`revision ${e.revision} won ${n} times`);
        } catch {
          await pause(5);
        }
      }
    });
    const noise = stores.slice(3).map(async (s, i) => {
      while (!stop) {
        await s.create(`noise${i}.${st.slowPathNoise++}`, enc("n")).catch(() => pause(20));
      }
    });

    const progress = async (what: string) => {
      const [r, w] = [st.renewals, st.wins];
      await waitFor(() => st.renewals >= r + 20 && st.wins >= w + 20, { timeoutMs: 30_000 }).catch(() => {
        throw new Error(`no progress ${what}: ${JSON.stringify({ ...st, stale: st.stale.length, doubles: st.doubles.length })}`);
      });
    };
    await progress("before the faults");
    // 1. Kill the stream leader, let another take over, restart it.
    let lead = await waitForStreamLeader(cluster, "KV_lc", { timeoutMs: 30_000 });
    phase = `${lead} killed`;
    await cluster.kill(serverIndex(cluster, lead), "SIGKILL");
    await waitForStreamLeader(cluster, "KV_lc", { notIn: [lead], timeoutMs: 30_000 });
    await progress("after the kill");
    await cluster.restart(serverIndex(cluster, lead), { waitHealthy: true, timeoutMs: 30_000 });
    // 2. Freeze the stream leader until another is elected, then let it resume believing it still leads.
    lead = await waitForStreamLeader(cluster, "KV_lc", { timeoutMs: 30_000 });
    phase = `${lead} frozen`;
    await cluster.kill(serverIndex(cluster, lead), "SIGSTOP");
    await waitForStreamLeader(cluster, "KV_lc", { notIn: [lead], timeoutMs: 30_000 });
    phase = `${lead} resumed`;
    await cluster.kill(serverIndex(cluster, lead), "SIGCONT");
    await progress("after the freeze");

    stop = true;
    await Promise.all([holder, ...readers, ...racers, ...noise]);
    console.log(
      `R3 leader changes: ${st.renewals} renewals, ${st.reads} reads (${st.stale.length} stale${st.stale.length ? `: ${st.stale[0]}` : ""}), ` +
        `${st.wins} contended CAS wins, ${st.slowPathNoise} noise writes`,
    );
    expect(st.wins).toBeGreaterThan(60);
    expect(st.doubles).toEqual([]);
  }, 180_000);
});
