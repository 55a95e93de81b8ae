/**
 * Issue 14: a record the protocol never writes, published straight to the
 * bucket's subject by a plain NATS client (no expected-sequence header),
 * must not yield two valid holders. Two candidates on a real nats-server
 * record their leadership intervals; the split-brain oracle checks them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startElection, type Election, type ElectionEvent } from "../../src/election/election.js";
import { startNatsServer, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import { NatsLeaseStore } from "../../src/lease/nats-store.js";
import { checkIntervals, IntervalRecorder, readIntervals } from "../../src/observability/oracle.js";
import { monotonicNowMs } from "../../src/util/clock.js";
import { LEASE_RECORD_VERSION, encodeRecord } from "../../src/wire/lease-record.js";

const LEASE_MS = 3_000;

let server: NatsServerHandle;
let dir: string;
const conns: NatsConnection[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  server = await startNatsServer();
  dir = mkdtempSync(join(tmpdir(), "regent-forged-"));
});

afterAll(async () => {
  await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
  process.off("unhandledRejection", onUnhandled);
  expect(unhandled).toEqual([]);
});

interface Cand {
  election: Election;
  events: (ElectionEvent & { t: number })[];
  file: string;
}

async function candidate(bucket: string, key: string, id: string): Promise<Cand> {
  const nc = await connect({ servers: server.url, timeout: 2_000 });
  conns.push(nc);
  const store = await NatsLeaseStore.open(nc, { bucket });
  const file = join(dir, `${bucket}-${id}.jsonl`);
  const rec = new IntervalRecorder(file);
  const election = startElection({ store, key, id, leaseMs: LEASE_MS });
  const c: Cand = { election, events: [], file };
  let validUntil = 0;
  election.on((e) => {
    c.events.push({ ...e, t: monotonicNowMs() });
    if (e.type === "elected") rec.started(key, id, e.token, (validUntil = e.validUntil));
    else if (e.type === "renewed") rec.extended(key, id, e.token, (validUntil = e.validUntil));
    else if (e.type === "deposed") rec.ended(key, id, e.token, Math.min(e.at, validUntil));
  });
  return c;
}

function waitFor(cands: Cand[], pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const offs: (() => void)[] = [];
    const done = (err?: Error) => {
      clearTimeout(timer);
      offs.forEach((o) => o());
      err ? reject(err) : resolve();
    };
    const timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    const check = () => pred() && done();
    for (const c of cands) offs.push(c.election.on(() => queueMicrotask(check)));
    check();
  });
}

/** Two candidates, one leader that the other has seen renew; returns them with the leader's term. */
async function setUp(bucket: string, key: string) {
  const cands = [await candidate(bucket, key, "a"), await candidate(bucket, key, "b")];
  await waitFor(cands, () => cands.some((c) => c.election.isLeader()), 15_000, "a leader");
  const holder = cands.find((c) => c.election.isLeader())!;
  const follower = cands.find((c) => c !== holder)!;
  const token = holder.election.leadership()!.token;
  // The follower has watched the holder's term (one renewal seen through its watch or read).
  const renewalsBefore = holder.events.filter((e) => e.type === "renewed").length;
  await waitFor(cands, () => holder.events.filter((e) => e.type === "renewed").length > renewalsBefore, 10_000, "a renewal");
  return { cands, holder, follower, token };
}

async function finish(cands: Cand[], since: number) {
  // Someone takes over eventually (after a full lease at most), with a larger token.
  await waitFor(cands, () => cands.some((c) => c.events.some((e) => e.type === "elected" && e.t > since)), 20_000, "a new term");
  await Promise.all(cands.map((c) => c.election.stop({ signal: AbortSignal.timeout(5_000) })));
  const intervals = readIntervals(cands.map((c) => c.file));
  const verdict = checkIntervals(intervals);
  return { intervals, verdict };
}

describe("forged records on a real nats-server (issue 14)", () => {
  it("a forged `released` record (plain publish, holder and token copied) yields no two valid holders", async () => {
    const bucket = "forged-release";
    const key = "svc.leader";
    const { cands, holder, follower, token } = await setUp(bucket, key);
    const forger = await connect({ servers: server.url });
    conns.push(forger);
    const forgedAt = monotonicNowMs();
    forger.publish(
      `$KV.${bucket}.${key}`,
      encodeRecord({ v: LEASE_RECORD_VERSION, holder: holder.election.id, token, leaseMs: LEASE_MS, renewMs: 1000, acquiredAt: 0, renewedAt: 0, released: true }),
    );
    await forger.flush();
    // The holder stops at once: it sees its record released by someone else.
    await waitFor(cands, () => !holder.election.isLeader(), 2_000, "the holder to stop");
    const deposed = holder.events.find((e) => e.type === "deposed" && e.t > forgedAt);
    expect(deposed).toMatchObject({ reason: "superseded", token });
    expect(deposed!.t - forgedAt).toBeLessThan(1_000);
    console.log(`forged release: holder stopped ${(deposed!.t - forgedAt).toFixed(2)} ms after the publish`);
    const { intervals, verdict } = await finish(cands, forgedAt);
    expect(verdict.violations.map((v) => v.message)).toEqual([]);
    // The follower did not race for the unverifiable release: it waited a full lease.
    const elected = [...holder.events, ...follower.events].filter((e) => e.type === "elected" && e.t > forgedAt);
    expect(elected.length).toBeGreaterThan(0);
    expect(Math.min(...elected.map((e) => e.t)) - forgedAt).toBeGreaterThanOrEqual(LEASE_MS * 0.95);
    expect(intervals.length).toBeGreaterThanOrEqual(2);
  });

  it("a forged delete (plain publish, KV-Operation DEL) yields no two valid holders", async () => {
    const bucket = "forged-delete";
    const key = "svc.leader";
    const { cands, holder, token } = await setUp(bucket, key);
    const forger = await connect({ servers: server.url });
    conns.push(forger);
    const h = headers();
    h.set("KV-Operation", "DEL");
    const forgedAt = monotonicNowMs();
    forger.publish(`$KV.${bucket}.${key}`, new Uint8Array(), { headers: h });
    await forger.flush();
    await waitFor(cands, () => !holder.election.isLeader(), 2_000, "the holder to stop");
    const deposed = holder.events.find((e) => e.type === "deposed" && e.t > forgedAt);
    expect(deposed).toMatchObject({ reason: "superseded", token });
    console.log(`forged delete: holder stopped ${(deposed!.t - forgedAt).toFixed(2)} ms after the publish`);
    const { verdict } = await finish(cands, forgedAt);
    expect(verdict.violations.map((v) => v.message)).toEqual([]);
    // Regent never deletes: the follower that watched the term waited the deleted key out.
    const elected = cands.flatMap((c) => c.events).filter((e) => e.type === "elected" && e.t > forgedAt);
    expect(Math.min(...elected.map((e) => e.t)) - forgedAt).toBeGreaterThanOrEqual(LEASE_MS * 0.95);
  });
});
