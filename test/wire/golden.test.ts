/**
 * Golden bytes: one value of every format regent puts on NATS, encoded and
 * compared with hex written down when the format was last changed on
 * purpose, plus the bucket, key, stream and subject names. A refactor that
 * changes a byte on the wire fails here; a deliberate change updates the hex
 * and docs/wire.md together (and, if it breaks old readers, the version).
 */
import { describe, expect, it } from "vitest";
import { encodeEvent, type LeaderEvent, type ScopeEvent, type StateSnapshot } from "../../src/wire/events.js";
import { encodeRecord, type LeaseRecord } from "../../src/wire/lease-record.js";
import { encodeScope, type ScopeRecord } from "../../src/wire/scope-record.js";
import { encodeGenesis, isGenesis } from "../../src/wire/genesis-record.js";
import { encodeMoveReply, encodeMoveRequest } from "../../src/wire/move.js";
import * as names from "../../src/wire/names.js";
import { subjects } from "../../src/wire/subjects.js";
import { eventMsgId } from "../../src/wire/events.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
// Above 2^32: the wall-clock fields are written as 64-bit integers.
const NOW = 1_795_763_644_488;

const elected: LeaderEvent = { v: 1, kind: "elected", tier: "region", cluster: "demo", region: "eu-west", node: "eu-west-2", token: 4242, leaseMs: 3000, previous: { node: "eu-west-1", token: 17 }, at: NOW };
const deposed: LeaderEvent = { v: 1, kind: "deposed", tier: "global", cluster: "demo", region: "us-east", node: "us-east-1", token: 99, leaseMs: 0, reason: "resigned", at: NOW };
const granted: ScopeEvent = { v: 1, kind: "granted", cluster: "demo", scope: "eu-west", region: "us-east", node: "us-east-3", token: 305, reason: "failover", from: { region: "eu-west", node: "eu-west-2", token: 288 }, at: NOW };
const snapshot: StateSnapshot = {
  v: 1,
  kind: "state",
  cluster: "demo",
  regions: { "eu-west": { state: "held", node: "eu-west-2", region: "eu-west", token: 4242, revision: 4250, ageMs: 412 } },
  global: { state: "held", node: "us-east-1", region: "us-east", token: 99, revision: 120, ageMs: 31, quorum: { stores: 3, answered: 3, agree: 2 } },
  scopes: { "eu-west": { state: "held", node: "us-east-3", region: "us-east", token: 305, revision: 311, ageMs: 20, home: "eu-west", pinned: "manual" } },
  answeredBy: "eu-west-1",
  at: NOW,
};
const COMMIT = "a".repeat(64);
const lease: LeaseRecord = { v: 1, holder: "eu-west-2", token: 0, leaseMs: 3000, renewMs: 1000, acquiredAt: NOW, renewedAt: NOW, released: false, meta: { region: "eu-west", node: "eu-west-2" }, commit: COMMIT };
const released: LeaseRecord = { ...lease, token: 4242, released: true, commit: undefined, reveal: "b".repeat(32) };
const scope: ScopeRecord = {
  v: 1,
  scope: "eu-west",
  home: "eu-west",
  region: "us-east",
  node: "us-east-3",
  state: "held",
  token: 305,
  leaseMs: 10_000,
  renewMs: 3_333,
  reason: "manual",
  recall: "failback",
  pinned: "manual",
  stores: 3,
  commit: COMMIT,
  from: { region: "eu-west", node: "eu-west-2", token: 288 },
  grantedBy: { node: "ap-south-1", token: 77 },
  grantedAt: NOW,
  renewedAt: NOW,
};

describe("golden bytes on the wire", () => {
  it("events", () => {
    expect(hex(encodeEvent(elected))).toBe("8aa17601a46b696e64a7656c6563746564a474696572a6726567696f6ea7636c7573746572a464656d6fa6726567696f6ea765752d77657374a46e6f6465a965752d776573742d32a5746f6b656ecd1092a76c656173654d73cd0bb8a870726576696f757382a46e6f6465a965752d776573742d31a5746f6b656e11a26174d3000001a21bdaa848");
    expect(hex(encodeEvent(deposed))).toBe("8aa17601a46b696e64a76465706f736564a474696572a6676c6f62616ca7636c7573746572a464656d6fa6726567696f6ea775732d65617374a46e6f6465a975732d656173742d31a5746f6b656e63a76c656173654d7300a6726561736f6ea872657369676e6564a26174d3000001a21bdaa848");
    expect(hex(encodeEvent(granted))).toBe("8aa17601a46b696e64a76772616e746564a7636c7573746572a464656d6fa573636f7065a765752d77657374a6726567696f6ea775732d65617374a46e6f6465a975732d656173742d33a5746f6b656ecd0131a6726561736f6ea86661696c6f766572a466726f6d83a6726567696f6ea765752d77657374a46e6f6465a965752d776573742d32a5746f6b656ecd0120a26174d3000001a21bdaa848");
    expect(hex(encodeEvent(snapshot))).toBe("88a17601a46b696e64a57374617465a7636c7573746572a464656d6fa7726567696f6e7381a765752d7765737486a57374617465a468656c64a46e6f6465a965752d776573742d32a6726567696f6ea765752d77657374a5746f6b656ecd1092a87265766973696f6ecd109aa56167654d73cd019ca6676c6f62616c87a57374617465a468656c64a46e6f6465a975732d656173742d31a6726567696f6ea775732d65617374a5746f6b656e63a87265766973696f6e78a56167654d731fa671756f72756d83a673746f72657303a8616e73776572656403a5616772656502a673636f70657381a765752d7765737488a57374617465a468656c64a46e6f6465a975732d656173742d33a6726567696f6ea775732d65617374a5746f6b656ecd0131a87265766973696f6ecd0137a56167654d7314a4686f6d65a765752d77657374a670696e6e6564a66d616e75616caa616e7377657265644279a965752d776573742d31a26174d3000001a21bdaa848");
  });
  it("lease, scope and genesis records", () => {
    expect(hex(encodeRecord(lease))).toBe("8aa17601a6686f6c646572a965752d776573742d32a5746f6b656e00a76c656173654d73cd0bb8a772656e65774d73cd03e8aa61637175697265644174d3000001a21bdaa848a972656e657765644174d3000001a21bdaa848a872656c6561736564c2a46d65746182a6726567696f6ea765752d77657374a46e6f6465a965752d776573742d32a6636f6d6d6974d94061616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161");
    expect(hex(encodeRecord(released))).toBe("8aa17601a6686f6c646572a965752d776573742d32a5746f6b656ecd1092a76c656173654d73cd0bb8a772656e65774d73cd03e8aa61637175697265644174d3000001a21bdaa848a972656e657765644174d3000001a21bdaa848a872656c6561736564c3a46d65746182a6726567696f6ea765752d77657374a46e6f6465a965752d776573742d32a672657665616cd9206262626262626262626262626262626262626262626262626262626262626262");
    expect(hex(encodeScope(scope))).toBe("de0012a17601a573636f7065a765752d77657374a4686f6d65a765752d77657374a6726567696f6ea775732d65617374a46e6f6465a975732d656173742d33a57374617465a468656c64a5746f6b656ecd0131a76c656173654d73cd2710a772656e65774d73cd0d05a6726561736f6ea66d616e75616ca6726563616c6ca86661696c6261636ba670696e6e6564a66d616e75616ca673746f72657303a6636f6d6d6974d94061616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161a466726f6d83a6726567696f6ea765752d77657374a46e6f6465a965752d776573742d32a5746f6b656ecd0120a96772616e746564427982a46e6f6465aa61702d736f7574682d31a5746f6b656e4da96772616e7465644174d3000001a21bdaa848a972656e657765644174d3000001a21bdaa848");
    expect(hex(encodeGenesis(41, NOW))).toBe("84a6726567656e74a767656e65736973a17601a5666c6f6f7229a26174d3000001a21bdaa848");
    expect(hex(encodeGenesis())).toBe("82a6726567656e74a767656e65736973a17601");
  });
  it("move request and reply", () => {
    expect(hex(encodeMoveRequest({ scope: "eu-west", to: "us-east", reason: "manual" }))).toBe("85a17601a46b696e64a46d6f7665a573636f7065a765752d77657374a2746fa775732d65617374a6726561736f6ea66d616e75616c");
    expect(hex(encodeMoveRequest({ scope: "eu-west", reason: "failback" }))).toBe("84a17601a46b696e64a46d6f7665a573636f7065a765752d77657374a6726561736f6ea86661696c6261636b");
    expect(hex(encodeMoveReply({ ok: true, scope: "eu-west", region: "us-east", node: "us-east-3", token: 305 }))).toBe("87a17601a46b696e64ab6d6f76652d726573756c74a26f6bc3a573636f7065a765752d77657374a6726567696f6ea775732d65617374a46e6f6465a975732d656173742d33a5746f6b656ecd0131");
    expect(hex(encodeMoveReply({ ok: false, scope: "eu-west", error: "no live leader" }))).toBe("85a17601a46b696e64ab6d6f76652d726573756c74a26f6bc2a573636f7065a765752d77657374a56572726f72ae6e6f206c697665206c6561646572");
  });
  it("names: buckets, keys, streams, subjects, message ids", () => {
    expect([names.regionBucket("eu"), names.regionServerBucket("eu", 2), names.quorumBucket("eu")]).toEqual(["regent-region-eu", "regent-region-eu-2", "regent-quorum-eu"]);
    expect([names.REGIONAL_KEY, names.GLOBAL_KEY, names.scopeKey("eu"), names.SCOPE_FILTER, names.GENESIS_KEY]).toEqual(["leader", "global.leader", "scope.eu", "scope.*", "_regent.genesis"]);
    expect([names.kvStreamName("b"), names.kvSubject("b", "k"), names.regionEventsStreamName("demo", "eu"), names.eventsStreamName("demo"), names.STATE_QUEUE]).toEqual(["KV_b", "$KV.b.k", "regent-log-demo-eu", "regent-log-demo", "regent-state"]);
    const s = subjects("demo");
    expect([s.all, s.regionLeader("eu"), s.regionResign("eu"), s.globalLeader, s.globalResign, s.scope("eu"), s.scopeMove, s.state]).toEqual([
      "regent.demo.>", "regent.demo.region.eu.leader", "regent.demo.region.eu.resign", "regent.demo.global.leader", "regent.demo.global.resign", "regent.demo.scope.eu", "regent.demo.scope-authority.move", "regent.demo.state",
    ]);
    expect([s.capture.all, s.capture.region("eu"), s.capture.inRegion("eu", s.event(elected)), s.capture.liveOfRegion("eu", "regent-log.demo.eu.scope.x")]).toEqual([
      "regent-log.demo.>", "regent-log.demo.eu.>", "regent-log.demo.eu.region.eu-west.leader", "regent.demo.scope.x",
    ]);
    expect([s.event(deposed), s.event(granted)]).toEqual(["regent.demo.global.leader", "regent.demo.scope.eu-west"]);
    expect([eventMsgId(elected), eventMsgId(granted)]).toEqual(["elected.region.eu-west.eu-west-2.4242", "granted.scope.eu-west.us-east.us-east-3.305"]);
  });
  it("the genesis record is recognised, and no lease record is one", () => {
    expect(isGenesis(encodeGenesis(41, NOW))).toBe(true);
    expect(isGenesis(encodeRecord(lease))).toBe(false);
  });
});
