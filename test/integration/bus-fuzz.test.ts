/**
 * Issue 14, bad input on the bus (real nats-server): arbitrary payloads on a
 * leader's resign subjects and on the lease authority's move subject never
 * change leadership, never crash the handlers, and get a clear answer (a
 * move-result with an error) or a logged rejection. The node behind the
 * handlers is a stub that counts what the handlers ask of it; NATS is real.
 */
import fc from "fast-check";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveNode, stateSourceOf } from "../../src/hierarchy/bus.js";
import type { NodeRoleEvent, RegentNode } from "../../src/hierarchy/node.js";
import { startNatsServer, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import { MemoryLeaseStore } from "../../src/lease/memory-store.js";
import { silentLogger } from "../../src/observability/logger.js";
import { packPlain, unpackPlain } from "../../src/wire/msgpack.js";
import { subjects } from "../../src/wire/subjects.js";
import type { MoveReply } from "../../src/wire/move.js";

let server: NatsServerHandle;
let nc: NatsConnection;
let client: NatsConnection;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  client = await connect({ servers: server.url });
});

afterAll(async () => {
  await client?.close();
  await nc?.close();
  await server?.stop();
  process.off("unhandledRejection", onUnhandled);
  expect(unhandled).toEqual([]);
});

function stubNode() {
  const listeners = new Set<(e: NodeRoleEvent) => void>();
  const calls = { resign: [] as string[], move: [] as [string, string, string][] };
  const node = {
    id: "eu-1",
    region: "eu",
    cluster: "fz",
    on: (l: (e: NodeRoleEvent) => void) => (listeners.add(l), () => listeners.delete(l)),
    resign: async (tier: string) => void calls.resign.push(tier),
    moveScope: async (scope: string, to: string, reason: string) => {
      calls.move.push([scope, to, reason]);
      if (scope !== "eu" || (to !== "eu" && to !== "us")) throw new Error(`unknown scope or region ${scope} → ${to}`);
      return { scope, region: to, node: `${to}-1`, token: 9 };
    },
  };
  const fire = (e: NodeRoleEvent) => listeners.forEach((l) => l(e));
  return { node: node as unknown as RegentNode, calls, fire };
}

const payloads = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 512 }),
  fc.anything({ maxDepth: 3 }).map((v) => {
    try {
      return packPlain(v);
    } catch {
      return new Uint8Array([0xc1]);
    }
  }),
  fc.record({
    v: fc.oneof(fc.constant(1), fc.anything()),
    kind: fc.oneof(fc.constant("move"), fc.string()),
    scope: fc.oneof(fc.constantFrom("eu", "us", "", "a.b", "x>"), fc.anything()),
    to: fc.option(fc.oneof(fc.constantFrom("eu", "us", "zz", "*"), fc.anything())),
    reason: fc.oneof(fc.constantFrom("manual", "failback"), fc.anything()),
  }).map((v) => packPlain(v)),
);

describe("bus handlers under arbitrary payloads (real nats-server)", () => {
  it("resign: only an empty request resigns; anything else is rejected without a change", async () => {
    const { node, calls, fire } = stubNode();
    const warnings: unknown[] = [];
    const log = Object.assign(silentLogger(), { warn: (o: unknown) => warnings.push(o) });
    const stores = { cluster: "fz", regions: new Map([["eu", new MemoryLeaseStore()]]), quorum: [new MemoryLeaseStore()] };
    const stop = serveNode(nc, node, stateSourceOf(stores), log as never);
    fire({ type: "elected", tier: "region", token: 3, validUntil: 0 });
    fire({ type: "elected", tier: "global", token: 5, validUntil: 0 });
    await nc.flush();
    const s = subjects("fz");
    const samples = fc.sample(payloads, { numRuns: 80, seed: 14 });
    samples.push(new Uint8Array(1024 * 1024 - 4096)); // close to NATS's max_payload
    for (const p of samples) {
      client.publish(s.regionResign("eu"), p);
      client.publish(s.globalResign, p);
    }
    // Handlers run in order per subscription: an empty request's reply means every payload before it was handled.
    const ack = await client.request(s.regionResign("eu"), new Uint8Array(), { timeout: 5_000 });
    await client.request(s.globalResign, new Uint8Array(), { timeout: 5_000 });
    expect(calls.resign).toEqual(["region", "global"]);
    expect(unpackPlain(ack.data)).toMatchObject({ kind: "deposed", reason: "resigned", token: 3 });
    expect(warnings.length).toBe(2 * samples.length);
    stop();
  });

  it("move: arbitrary payloads get a move-result with an error; only well-formed requests reach the authority", async () => {
    const { node, calls, fire } = stubNode();
    const stores = { cluster: "fz", regions: new Map([["eu", new MemoryLeaseStore()]]), quorum: [new MemoryLeaseStore()] };
    const stop = serveNode(nc, node, stateSourceOf(stores), silentLogger());
    fire({ type: "elected", tier: "global", token: 5, validUntil: 0 });
    await nc.flush();
    const s = subjects("fz");
    const samples = fc.sample(payloads, { numRuns: 80, seed: 15 });
    samples.push(new Uint8Array(1024 * 1024 - 4096));
    for (const p of samples) {
      const m = await client.request(s.scopeMove, p, { timeout: 5_000 });
      const reply = unpackPlain(m.data) as MoveReply;
      expect(reply).toMatchObject({ v: 1, kind: "move-result" });
      expect(typeof reply.ok).toBe("boolean");
      if (!reply.ok) expect(reply.error!.length).toBeGreaterThan(0);
    }
    for (const [scope, to, reason] of calls.move) {
      expect(scope).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(to).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(["manual", "failback"]).toContain(reason);
    }
    // Still serving: a real request succeeds.
    const ok = unpackPlain((await client.request(s.scopeMove, packPlain({ v: 1, kind: "move", scope: "eu", to: "us", reason: "manual" }), { timeout: 5_000 })).data);
    expect(ok).toMatchObject({ ok: true, region: "us", token: 9 });
    stop();
  });

  it("review finding 4: resign and move messages without a reply subject (plain or republished publishes) are ignored and logged", async () => {
    const { node, calls, fire } = stubNode();
    const warnings: unknown[] = [];
    const log = Object.assign(silentLogger(), { warn: (o: unknown) => warnings.push(o) });
    const stores = { cluster: "fz", regions: new Map([["eu", new MemoryLeaseStore()]]), quorum: [new MemoryLeaseStore()] };
    const stop = serveNode(nc, node, stateSourceOf(stores), log as never);
    fire({ type: "elected", tier: "region", token: 3, validUntil: 0 });
    fire({ type: "elected", tier: "global", token: 5, validUntil: 0 });
    await nc.flush();
    const s = subjects("fz");
    const move = packPlain({ v: 1, kind: "move", scope: "eu", to: "us", reason: "manual" });
    // What a stream's republish delivers: a well-formed payload, no reply subject.
    client.publish(s.regionResign("eu"), new Uint8Array());
    client.publish(s.globalResign, new Uint8Array());
    client.publish(s.scopeMove, move);
    // Handlers run in order per subscription: once a real request is answered, the publishes before it were handled.
    await client.request(s.regionResign("eu"), new Uint8Array(), { timeout: 5_000 });
    await client.request(s.globalResign, new Uint8Array(), { timeout: 5_000 });
    await client.request(s.scopeMove, move, { timeout: 5_000 });
    expect(calls.resign).toEqual(["region", "global"]);
    expect(calls.move).toEqual([["eu", "us", "manual"]]);
    expect(warnings).toHaveLength(3);
    stop();
  });
});
