/**
 * The global bucket is R3 in the stretched `global` cluster. Losing one of its
 * servers — even the one leading the bucket's stream, which stops KV writes
 * for 4–8 s on nats-server 2.9 — must not change any leader when leases are
 * ≥ 10 s: holders retry until their deadline and never step down early.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streamLeader, waitForStreamLeader } from "../../src/launcher/nats-launcher.js";
import { GLOBAL_BUCKET } from "../../src/hierarchy/deployment.js";
import { TestDeployment, testRegions } from "../harness/deployment.js";

let dep: TestDeployment;

beforeAll(async () => {
  // Renew every second: validity 9.7 s outlasts an 8 s write gap starting just after a renewal.
  dep = new TestDeployment(testRegions({ regionLeaseMs: 10_000, regionRenewMs: 1_000, globalLeaseMs: 10_000, globalRenewMs: 1_000, candidates: 2 }));
  await dep.start().catch(async (err) => {
    await dep.stop();
    throw err;
  });
}, 120_000);

afterAll(async () => {
  await dep?.stop();
});

describe("loss of global-cluster servers", () => {
  const stream = `KV_${GLOBAL_BUCKET}`;

  /** Asserts no leader changed since `marks` while the global leader renewed three more times. */
  async function noChangeWhileRenewing(marks: number[], what: string): Promise<void> {
    const g = dep.globalLeader()!;
    const after = g.events.length;
    for (let i = 0; i < 3; i++) await g.waitForEvent((e) => e.type === "renewed" && e.tier === "global", { from: after + i, timeoutMs: 20_000 });
    const changes = dep.nodes.flatMap((n, i) => n.events.slice(marks[i]).filter((e) => e.type === "elected" || e.type === "deposed"));
    expect(changes, what).toEqual([]);
    const renewals = g.events.filter((e) => e.tier === "global" && (e.type === "renewed" || e.type === "elected")).map((e) => e.t);
    const longest = Math.max(...renewals.slice(1).map((t, i) => t - renewals[i]!));
    console.log(`${what}: longest global renewal gap ${longest.toFixed(0)} ms`);
    expect(longest).toBeLessThan(9_700);
  }

  it("killing the server leading the global bucket's stream changes no leader (lease 10 s)", async () => {
    await dep.settled();
    const marks = dep.nodes.map((n) => n.events.length);
    const leader = await waitForStreamLeader(dep.sc.all, stream);
    await dep.sc.kill(leader);
    const next = await waitForStreamLeader(dep.sc.all, stream, { notIn: [leader], timeoutMs: 30_000 });
    expect(next).not.toBe(leader);
    await noChangeWhileRenewing(marks, `stream leader ${leader} killed, ${next} took over`);
    await dep.sc.restart(leader);
  });

  it("killing a follower server of the global cluster changes no leader", async () => {
    await dep.settled();
    const marks = dep.nodes.map((n) => n.events.length);
    const leader = await waitForStreamLeader(dep.sc.all, stream);
    const follower = dep.sc.global.servers.find((s) => s.name !== leader)!;
    await dep.sc.kill(follower.name);
    await noChangeWhileRenewing(marks, `follower ${follower.name} killed`);
    expect(await streamLeader(dep.sc.all, stream)).toBe(leader);
    await dep.sc.restart(follower.name);
  });
});
