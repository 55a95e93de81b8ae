/**
 * A 3-server JetStream cluster with the lease bucket at R3: killing the server
 * that leads the bucket's stream stops KV writes for 4–8 s (measured on
 * 2.9.10). With a 10 s lease the holder rides it out: no leadership change.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsCluster, streamLeader, serverIndex, waitForStreamLeader, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import { CandidateProcess, waitUntil } from "../../src/launcher/candidates.js";

let cluster: NatsServerHandle;
const cands: CandidateProcess[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster({ size: 3, name: "r3" });
  for (const id of ["p", "q"]) {
    cands.push(
      new CandidateProcess({
        id,
        servers: cluster.urls,
        key: "r3.leader",
        bucket: "r3",
        replicas: 3,
        leaseMs: 10_000,
        // Renew every second so the validity (9.7 s) outlasts an 8 s write gap
        // that starts just after a renewal.
        renewMs: 1_000,
      }),
    );
  }
  await Promise.all(cands.map((c) => c.waitForEvent((e) => e.type === "ready")));
});

afterAll(async () => {
  await Promise.all(cands.map((c) => c.stop()));
  await cluster?.stop();
});

describe("R3 bucket on a 3-server cluster", () => {
  it("killing the stream-leader server causes no leadership change at lease 10 s", async () => {
    await waitUntil(cands, () => cands.filter((c) => c.leading).length === 1, 30_000, "one leader");
    const leader = cands.find((c) => c.leading)!;
    const follower = cands.find((c) => c !== leader)!;
    await follower.waitForEvent((e) => e.type === "leader-changed" && e.leader === leader.id, { timeoutMs: 10_000 });

    const streamLead = await waitForStreamLeader(cluster, "KV_r3");
    const marks = cands.map((c) => c.events.length);
    await cluster.kill(serverIndex(cluster, streamLead), "SIGKILL");
    const newLead = await waitForStreamLeader(cluster, "KV_r3", { notIn: [streamLead], timeoutMs: 30_000 });
    expect(newLead).not.toBe(streamLead);

    // Synchronise on the holder's own renewals: three after the new stream leader exists.
    const after = leader.events.length;
    for (let i = 0; i < 3; i++) {
      await leader.waitForEvent((e) => e.type === "renewed", { from: after + i, timeoutMs: 15_000 });
    }
    const changes = cands.flatMap((c, i) => c.events.slice(marks[i]).filter((e) => e.type === "elected" || e.type === "deposed"));
    expect(changes).toEqual([]);
    expect(leader.leading).toBe(true);

    // Longest gap between successful renewals, for the record.
    const renewals = leader.events.filter((e) => e.type === "renewed" || e.type === "elected").map((e) => e.t);
    const gaps = renewals.slice(1).map((t, i) => t - renewals[i]!);
    const longest = Math.max(...gaps);
    expect(longest).toBeLessThan(10_000 * 0.97);
    console.log(`R3 stream-leader kill: longest renewal gap ${longest.toFixed(0)} ms; stream leader ${streamLead} → ${newLead}`);
    expect(await streamLeader(cluster, "KV_r3")).toBe(newLead);
  });
});
