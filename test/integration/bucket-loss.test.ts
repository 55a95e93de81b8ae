/**
 * The lease bucket's stream is deleted under a running election (an operator
 * mistake, a lost placement cluster). Revisions are stream sequences and
 * restart at 1 in a recreated stream, so without care the fencing tokens go
 * backwards, and a vacant key in the new bucket would be taken at once while
 * the old holder may still be inside its validity.
 *
 * Required: the deployment recovers by itself, every new token is larger than
 * every token and revision seen before the loss, and the oracle finds no
 * overlap between the old holder's term and its successor's.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startElection, type Election } from "../../src/election/election.js";
import { startNatsServer, waitFor, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import { NatsLeaseStore } from "../../src/lease/nats-store.js";
import { checkIntervals, type LeadershipInterval } from "../../src/observability/oracle.js";
import { monotonicNowMs } from "../../src/util/clock.js";

let server: NatsServerHandle;
const conns: NatsConnection[] = [];
const elections: Election[] = [];

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  await Promise.all(elections.map((e) => e.stop().catch(() => undefined)));
  for (const c of conns) await c.close().catch(() => undefined);
  await server?.stop();
});

/** One candidate as a separate process would be: its own connection, store and election, recording its terms. */
async function candidate(id: string, bucket: string, key: string, intervals: LeadershipInterval[], tokens: number[]): Promise<Election> {
  const nc = await connect({ servers: server.url });
  conns.push(nc);
  const store = await NatsLeaseStore.open(nc, { bucket, timeoutMs: 1_000 });
  const e = startElection({ store, key, id, leaseMs: 1_500, renewMs: 300, stallThresholdMs: 0 });
  elections.push(e);
  let open: LeadershipInterval | null = null;
  e.on((ev) => {
    if (ev.type === "elected") {
      tokens.push(ev.token);
      open = { lease: key, holder: id, token: ev.token, start: monotonicNowMs(), end: ev.validUntil };
      intervals.push(open);
    } else if (ev.type === "renewed" && open) {
      open.end = ev.validUntil;
    } else if (ev.type === "deposed" && open) {
      open.end = Math.min(ev.at, open.end);
      open = null;
    }
  });
  return e;
}

/**
 * Elects among three candidates on `bucket`, lets revisions climb, deletes the
 * stream, runs `afterDelete`, and checks the recovery.
 */
async function loseAndRecover(bucket: string, afterDelete: () => Promise<void>): Promise<void> {
  const key = `${bucket}.leader`;
  const intervals: LeadershipInterval[] = [];
  const tokens: number[] = [];
  const cands = await Promise.all(["a", "b", "c"].map((id) => candidate(`${bucket}-${id}`, bucket, key, intervals, tokens)));
  const leader = await waitFor(async () => cands.find((c) => c.isLeader()), { timeoutMs: 20_000, intervalMs: 20, what: "a leader" });
  // Let revisions climb: writes to other keys, and a few renewals.
  const probe = await connect({ servers: server.url });
  conns.push(probe);
  const other = await NatsLeaseStore.open(probe, { bucket });
  for (let i = 0; i < 20; i++) await other.create(`noise.${i}`, new Uint8Array([i]));
  const elected = tokens.length;
  await new Promise<void>((resolve) => {
    let n = 0;
    const off = leader.on((ev) => ev.type === "renewed" && ++n === 3 && (off(), resolve()));
  });
  expect(tokens.length).toBe(elected);
  const jsm = await jetstreamManager(probe);
  const before = (await jsm.streams.info(`KV_${bucket}`)).state.last_seq;
  const oldToken = leader.leadership()!.token;

  await jsm.streams.delete(`KV_${bucket}`);
  const lostAt = monotonicNowMs();
  await afterDelete();

  // Recovery: somebody is elected again, with a token above everything the old bucket ever held.
  const next = await waitFor(async () => (tokens.length > elected ? tokens[tokens.length - 1] : undefined), {
    timeoutMs: 30_000,
    intervalMs: 20,
    what: "a leader after the bucket was lost",
  });
  expect(next).toBeGreaterThan(before);
  expect(next).toBeGreaterThan(oldToken);
  // Nobody took the recreated bucket's never-written key before a full lease had passed since the loss.
  const newTerm = intervals.find((iv) => iv.token === next)!;
  expect(newTerm.start - lostAt).toBeGreaterThanOrEqual(1_500);
  const check = checkIntervals(intervals);
  expect(check.violations.map((v) => v.message)).toEqual([]);
  for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1]!);
  console.log(`bucket ${bucket}: last revision ${before} before the loss, old token ${oldToken}, new token ${next}, elected ${(newTerm.start - lostAt).toFixed(0)} ms after the loss`);
}

describe("a lease bucket deleted under a running election", () => {
  it("recovers by itself: recreated, a new leader with a larger token after a full lease, no overlap", async () => {
    await loseAndRecover("lost", async () => {});
  });

  it("recovers when a process that never knew the old bucket recreates it first", async () => {
    await loseAndRecover("lost2", async () => {
      const fresh = await connect({ servers: server.url });
      conns.push(fresh);
      await NatsLeaseStore.open(fresh, { bucket: "lost2" });
    });
  });
});
