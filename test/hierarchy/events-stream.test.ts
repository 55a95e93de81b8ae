/**
 * Events reach live subscribers once, even when the stream append is retried;
 * each region appends to its own events stream (issue 11), and a reader
 * merges every region's stream that answers.
 *
 * The subscriber is independent of regent and of nats.js: Python speaking the
 * raw NATS protocol over a socket and decoding with `msgpack` (Debian
 * python3-msgpack). A retried append is, on the wire, the same append again
 * (same message id); test/integration/region-loss-clients.test.ts counts
 * events the same way through a real region loss.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureEventsStream, EventPublisher, readEventsStream, readEventsStreams } from "../../src/hierarchy/events-stream.js";
import { ConfigError } from "../../src/errors.js";
import { subjects } from "../../src/wire/subjects.js";
import { startNatsServer, waitFor, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import { WIRE_VERSION, type LeaderEvent } from "../../src/wire/events.js";
import { PYTHON, startPythonSubscriber } from "../harness/python-subscriber.js";
import { eventsStreamName, regionEventsStreamName } from "../../src/wire/names.js";

const CLUSTER = "once";
let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  await ensureEventsStream(nc, CLUSTER, "eu-west", 1, { placement: false });
  await ensureEventsStream(nc, CLUSTER, "us-east", 1, { placement: false });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

function elected(token: number, region = "eu-west", at = Date.now()): LeaderEvent {
  return { v: WIRE_VERSION, kind: "elected", tier: "region", cluster: CLUSTER, region, node: `${region}-1`, token, leaseMs: 2000, at };
}

describe.skipIf(!PYTHON && !process.env.CI)("events stream", () => {
  it("a live subscriber gets each event once although it was appended three times", async () => {
    const py = await startPythonSubscriber(server.url, `regent.${CLUSTER}.>`);
    // A retry after a lost ack is a second append with the same message id;
    // so is a second reporter of the same event (a lessee and the authority
    // both report a lapse). Three appends of event 2: the publisher's own
    // retry, modelled as a second publish, and a second publisher.
    const publisher = new EventPublisher(nc, CLUSTER, "eu-west");
    const other = new EventPublisher(nc, CLUSTER, "eu-west");
    publisher.publish(elected(1));
    publisher.publish(elected(2));
    publisher.publish(elected(2));
    other.publish(elected(2));
    await waitFor(() => publisher.published === 3 && other.published === 1, { timeoutMs: 20_000, what: "every append acked" });
    const result = await py.finish();
    expect(result.counts).toEqual({
      [`regent.${CLUSTER}.region.eu-west.leader|elected|eu-west-1|1`]: 1,
      [`regent.${CLUSTER}.region.eu-west.leader|elected|eu-west-1|2`]: 1,
    });
    // Republished messages carry the stream sequence: a subscriber can spot gaps.
    expect(result.seqs).toEqual([
      [regionEventsStreamName(CLUSTER, "eu-west"), 1],
      [regionEventsStreamName(CLUSTER, "eu-west"), 2],
    ]);

    // The stream holds each event once, under its live subject.
    const stored = await readEventsStream(nc, CLUSTER, { regions: ["eu-west"] });
    expect(stored.map((s) => [s.subject, s.event.kind, (s.event as LeaderEvent).token])).toEqual([
      [`regent.${CLUSTER}.region.eu-west.leader`, "elected", 1],
      [`regent.${CLUSTER}.region.eu-west.leader`, "elected", 2],
    ]);
  });

  it("creates each region's stream with its own capture subtree republished onto the live subjects", async () => {
    const { jetstreamManager } = await import("@nats-io/jetstream");
    const c = (await (await jetstreamManager(nc)).streams.info(`regent-log-${CLUSTER}-us-east`)).config;
    expect(c.subjects).toEqual([`regent-log.${CLUSTER}.us-east.>`]);
    expect(c.republish).toMatchObject({ src: `regent-log.${CLUSTER}.us-east.>`, dest: `regent.${CLUSTER}.>` });
  });

  it("reads every region's stream merged by time; a region without an answering stream is skipped, not waited for", async () => {
    const us = new EventPublisher(nc, CLUSTER, "us-east");
    const eu = new EventPublisher(nc, CLUSTER, "eu-west");
    const t0 = Date.now() + 10_000; // after the events of the test above
    us.publish(elected(11, "us-east", t0 + 1));
    eu.publish(elected(12, "eu-west", t0 + 2));
    us.publish(elected(13, "us-east", t0 + 3));
    await waitFor(() => us.published === 2 && eu.published === 1, { timeoutMs: 20_000, what: "appends acked" });
    const started = performance.now();
    const r = await readEventsStreams(nc, CLUSTER, { regions: ["eu-west", "gone", "us-east"], timeoutMs: 2_000 });
    expect(performance.now() - started).toBeLessThan(2_500);
    expect(r.unreachable).toEqual(["gone"]);
    const late = r.events.filter((e) => e.event.at > t0);
    expect(late.map((e) => [e.region, e.subject, (e.event as LeaderEvent).token])).toEqual([
      ["us-east", `regent.${CLUSTER}.region.us-east.leader`, 11],
      ["eu-west", `regent.${CLUSTER}.region.eu-west.leader`, 12],
      ["us-east", `regent.${CLUSTER}.region.us-east.leader`, 13],
    ]);
    expect(r.lastSeq).toEqual({ "eu-west": 3, "us-east": 2 });
    // Without a region list: every region stream of the cluster the server lists.
    const all = await readEventsStreams(nc, CLUSTER, { timeoutMs: 2_000 });
    expect(Object.keys(all.lastSeq).sort()).toEqual(["eu-west", "us-east"]);
    expect(all.events.length).toBe(r.events.length);
    // From a sequence per region, or the last few of each.
    const tail = await readEventsStreams(nc, CLUSTER, { regions: ["eu-west", "us-east"], tail: 1 });
    expect(tail.events.map((e) => (e.event as LeaderEvent).token)).toEqual([12, 13]);
  });
});

describe("ensureEventsStream on an existing stream (review finding 4)", () => {
  it("refuses a stream made by someone else with a foreign republish, sources or a mirror; accepts its own", async () => {
    const { jetstreamManager } = await import("@nats-io/jetstream");
    const jsm = await jetstreamManager(nc);
    const s = subjects("evil");
    // What a node identity could create while the stream is missing: its allowed appends republished onto the operator-only resign subject.
    const name = regionEventsStreamName("evil", "eu");
    await jsm.streams.add({ name, subjects: [s.capture.region("eu")], republish: { src: `regent-log.evil.eu.global.leader`, dest: s.globalResign } });
    const err = await ensureEventsStream(nc, "evil", "eu", 1, { placement: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/republish/);
    await jsm.streams.delete(name);
    await jsm.streams.add({ name, subjects: [s.capture.region("eu")], sources: [{ name: regionEventsStreamName(CLUSTER, "eu-west") }] });
    await expect(ensureEventsStream(nc, "evil", "eu", 1, { placement: false })).rejects.toBeInstanceOf(ConfigError);
    await jsm.streams.delete(name);
    await ensureEventsStream(nc, "evil", "eu", 1, { placement: false });
    await ensureEventsStream(nc, "evil", "eu", 1, { placement: false }); // its own: accepted
  });

  it("names the pre-issue-11 stream to delete when its subjects overlap the region's", async () => {
    const { jetstreamManager } = await import("@nats-io/jetstream");
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: eventsStreamName("old"), subjects: ["regent-log.old.>"] });
    const err = await ensureEventsStream(nc, "old", "eu", 1, { placement: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/delete it/);
    expect((err as Error).message).toContain(eventsStreamName("old"));
    await jsm.streams.delete(eventsStreamName("old"));
    await ensureEventsStream(nc, "old", "eu", 1, { placement: false });
  });
});
