/**
 * Events reach live subscribers once, even when the stream append is retried.
 *
 * The subscriber is independent of regent and of nats.js: Python speaking the
 * raw NATS protocol over a socket and decoding with `msgpack` (Debian
 * python3-msgpack). A retried append is, on the wire, the same append again
 * (same message id); test/integration/region-loss-clients.test.ts counts
 * events the same way through a real region loss.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureEventsStream, eventsStreamName, EventPublisher, readEventsStream } from "../../src/hierarchy/events-stream.js";
import { ConfigError } from "../../src/errors.js";
import { subjects } from "../../src/wire/subjects.js";
import { startNatsServer, waitFor, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import type { LeaderEvent } from "../../src/wire/events.js";
import { PYTHON, startPythonSubscriber } from "../harness/python-subscriber.js";

const CLUSTER = "once";
let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  await ensureEventsStream(nc, CLUSTER, 1, { placement: false });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

function elected(token: number): LeaderEvent {
  return { v: 1, kind: "elected", tier: "region", cluster: CLUSTER, region: "eu-west", node: "eu-west-1", token, leaseMs: 2000, at: Date.now() };
}

describe.skipIf(!PYTHON && !process.env.CI)("events stream", () => {
  it("a live subscriber gets each event once although it was appended three times", async () => {
    const py = await startPythonSubscriber(server.url, `regent.${CLUSTER}.>`);
    // A retry after a lost ack is a second append with the same message id;
    // so is a second reporter of the same event (a lessee and the authority
    // both report a lapse). Three appends of event 2: the publisher's own
    // retry, modelled as a second publish, and a second publisher.
    const publisher = new EventPublisher(nc, CLUSTER);
    const other = new EventPublisher(nc, CLUSTER);
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
    expect(result.seqs).toEqual([1, 2]);

    // The stream holds each event once, under its live subject.
    const stored = await readEventsStream(nc, CLUSTER);
    expect(stored.map((s) => [s.subject, s.event.kind, (s.event as LeaderEvent).token])).toEqual([
      [`regent.${CLUSTER}.region.eu-west.leader`, "elected", 1],
      [`regent.${CLUSTER}.region.eu-west.leader`, "elected", 2],
    ]);
  });

  it("creates the stream with the capture subtree republished onto the live subjects", async () => {
    const { jetstreamManager } = await import("@nats-io/jetstream");
    const c = (await (await jetstreamManager(nc)).streams.info(`regent-log-${CLUSTER}`)).config;
    expect(c.subjects).toEqual([`regent-log.${CLUSTER}.>`]);
    expect(c.republish).toMatchObject({ src: `regent-log.${CLUSTER}.>`, dest: `regent.${CLUSTER}.>` });
  });
});

describe("ensureEventsStream on an existing stream (review finding 4)", () => {
  it("refuses a stream made by someone else with a foreign republish, sources or a mirror; accepts its own", async () => {
    const { jetstreamManager } = await import("@nats-io/jetstream");
    const jsm = await jetstreamManager(nc);
    const s = subjects("evil");
    // What a node identity could create while the stream is missing: its allowed appends republished onto the operator-only resign subject.
    await jsm.streams.add({ name: eventsStreamName("evil"), subjects: [s.capture.all], republish: { src: s.capture.of(s.globalLeader), dest: s.globalResign } });
    const err = await ensureEventsStream(nc, "evil", 1, { placement: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/republish/);
    await jsm.streams.delete(eventsStreamName("evil"));
    await jsm.streams.add({ name: eventsStreamName("evil"), subjects: [s.capture.all], sources: [{ name: eventsStreamName(CLUSTER) }] });
    await expect(ensureEventsStream(nc, "evil", 1, { placement: false })).rejects.toBeInstanceOf(ConfigError);
    await jsm.streams.delete(eventsStreamName("evil"));
    await ensureEventsStream(nc, "evil", 1, { placement: false });
    await ensureEventsStream(nc, "evil", 1, { placement: false }); // its own: accepted
  });
});
