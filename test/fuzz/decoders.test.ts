/**
 * Issue 14, bad input: property tests (fast-check) over every decoder of
 * bytes that anyone with publish rights can write — lease records, scope
 * records, events, move requests — plus oversized and deeply nested msgpack.
 * Each input gives a clear result (a view, a reason, or a MalformedError),
 * never another exception, and what decodes can be printed and serialised.
 */
import fc from "fast-check";
import { pack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { MalformedError } from "../../src/errors.js";
import { leaseToWait, viewOf } from "../../src/lease/record.js";
import { scopeLeaseToWait, scopeViewOf } from "../../src/scopes/record.js";
import { WIRE_VERSION, decodeEvent, encodeEvent, type WireEvent } from "../../src/wire/events.js";
import { MAX_DECODE_DEPTH, packPlain, unpackPlain } from "../../src/wire/msgpack.js";
import { jsonLine, renderEvent, renderState } from "../../src/cli/observe-cmds.js";
import { decodeMoveRequest } from "../../src/wire/move.js";
import { LEASE_RECORD_VERSION, decodeRecord, encodeRecord, MAX_LEASE_MS, type LeaseRecord } from "../../src/wire/lease-record.js";
import { SCOPE_RECORD_VERSION, decodeScope, encodeScope, type ScopeRecord } from "../../src/wire/scope-record.js";

const RUNS = { numRuns: 400, seed: 14 };
const entry = (value: Uint8Array, revision: number, operation: "put" | "delete" = "put") => ({ key: "k", revision, operation, value });

const lease: LeaseRecord = { v: LEASE_RECORD_VERSION, holder: "a", token: 0, leaseMs: 2000, renewMs: 666, acquiredAt: 1, renewedAt: 2, released: false, meta: { region: "eu" } };
const scope: ScopeRecord = {
  v: SCOPE_RECORD_VERSION, scope: "eu", home: "eu", region: "eu", node: "eu-1", state: "held", token: 7, leaseMs: 3000, renewMs: 1000, reason: "initial",
  grantedBy: { node: "a-1", token: 3 }, grantedAt: 1, renewedAt: 2,
};
const events: WireEvent[] = [
  { v: WIRE_VERSION, kind: "elected", tier: "region", cluster: "c", region: "eu", node: "eu-1", token: 4, leaseMs: 2000, previous: null, at: 1 },
  { v: WIRE_VERSION, kind: "deposed", tier: "global", cluster: "c", region: "eu", node: "eu-1", token: 4, leaseMs: 2000, reason: "lapsed", at: 1 },
  { v: WIRE_VERSION, kind: "granted", cluster: "c", scope: "eu", region: "us", node: "us-1", token: 9, reason: "failover", from: { region: "eu", node: "eu-1", token: 7 }, at: 1 },
  {
    v: WIRE_VERSION, kind: "state", cluster: "c", answeredBy: "eu-1", at: 1,
    regions: { eu: { state: "held", node: "eu-1", region: "eu", token: 3, revision: 3, ageMs: 10 } },
    global: { state: "unreachable", node: null, region: null, token: null, revision: 0, ageMs: null },
    scopes: { eu: { state: "held", node: "eu-1", region: "eu", token: 7, revision: 7, ageMs: 1, home: "eu" } },
  },
];

/** Any msgpack-able value, including BigInt-range integers, floats, binary and nesting. */
const anyValue = fc.anything({
  withBigInt: true,
  withTypedArray: true,
  withNullPrototype: false,
  withObjectString: false,
  maxDepth: 4,
  values: [fc.double(), fc.integer(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }), fc.string(), fc.boolean(), fc.constant(null)],
});
/** A valid object with one field replaced, removed or added, by any value. */
const mutated = <T extends object>(base: T) =>
  fc.tuple(fc.constantFrom(...Object.keys(base), "extra", "previous", "from", "commit", "reveal", "recall"), fc.option(anyValue, { nil: undefined })).map(([k, v]) => {
    const o: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    if (v === undefined) delete o[k];
    else o[k] = v;
    return o;
  });
/** Bytes: random, msgpack of any value, or msgpack of a near-valid object. */
const bytesFor = (base: object) =>
  fc.oneof(
    fc.uint8Array({ maxLength: 256 }),
    anyValue.map((v) => safePack(v)),
    mutated(base).map((v) => safePack(v)),
  );
function safePack(v: unknown): Uint8Array {
  try {
    return pack(v);
  } catch {
    return new Uint8Array([0xc1]);
  }
}

function nested(depth: number, open: number, leaf = 0x01): Uint8Array {
  const b = new Uint8Array(depth + 1).fill(open);
  b[depth] = leaf;
  return b;
}
function nestedMaps(depth: number): Uint8Array {
  const b = new Uint8Array(2 * depth + 1);
  for (let i = 0; i < depth; i++) b.set([0x81, 0xa0], 2 * i);
  b[2 * depth] = 0x01;
  return b;
}

describe("msgpack guard", () => {
  it("rejects 100k levels of nesting with a MalformedError instead of a stack overflow", () => {
    for (const bytes of [nested(100_000, 0x91), nestedMaps(100_000), nested(10_000, 0x91)]) {
      expect(() => unpackPlain(bytes)).toThrow(MalformedError);
      expect(viewOf(entry(bytes, 5))).toMatchObject({ state: "unknown" });
      expect(scopeViewOf(entry(bytes, 5))).toMatchObject({ state: "unknown" });
      expect(() => decodeEvent(bytes)).toThrow(MalformedError);
    }
    // Regent's own payloads are far inside the limit.
    expect(unpackPlain(nested(MAX_DECODE_DEPTH, 0x91))).toBeDefined();
    expect(() => unpackPlain(nested(MAX_DECODE_DEPTH + 1, 0x91))).toThrow(MalformedError);
  });

  it("rejects oversized payloads (8 MiB) and headers claiming more elements than bytes, at once", () => {
    const big = new Uint8Array(8 * 1024 * 1024);
    const claim = new Uint8Array(8 * 1024 * 1024);
    claim.set([0x92]); // fixarray of 2 followed by megabytes
    const huge = new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]); // array32 of 4 billion
    for (const bytes of [big, claim, huge, new Uint8Array([0xdf, 0xff, 0xff, 0xff, 0xff])]) {
      const t = performance.now();
      expect(() => unpackPlain(bytes)).toThrow(MalformedError);
      expect(viewOf(entry(bytes, 5)).state).toBe("unknown");
      expect(() => decodeEvent(bytes)).toThrow(MalformedError);
      expect(performance.now() - t).toBeLessThan(200);
    }
  });

  it("decodes exactly what msgpackr decodes for well-formed values within the limits", () => {
    fc.assert(
      fc.property(anyValue, (v) => {
        const bytes = safePack(v);
        let expected: unknown;
        try {
          expected = unpackPlain(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(MalformedError);
          return;
        }
        expect(expected).toEqual(unpackPlain(packPlain(expected)));
      }),
      RUNS,
    );
  });
});

describe("lease records", () => {
  it("viewOf never throws; undecodable bytes are held by unknown with a reason and a bounded wait", () => {
    fc.assert(
      fc.property(bytesFor(lease), fc.integer({ min: 1, max: 2 ** 40 }), fc.constantFrom("put", "delete" as const), (bytes, revision, op) => {
        const v = viewOf(entry(bytes, revision, op as "put" | "delete"));
        expect(v.revision).toBe(revision);
        const wait = leaseToWait(v, 3000);
        expect(wait).toBeGreaterThanOrEqual(3000);
        expect(wait).toBeLessThanOrEqual(MAX_LEASE_MS);
        const d = decodeRecord(bytes);
        if (typeof d === "string") {
          expect(d.length).toBeGreaterThan(0);
          if (op === "put") expect(v.state).toBe("unknown");
        } else {
          // What decodes is a clean, serialisable record.
          expect(decodeRecord(encodeRecord(d))).toEqual(d);
          expect(() => JSON.stringify(d)).not.toThrow();
          if (v.state === "held" || v.state === "released") expect(Number.isSafeInteger(v.token)).toBe(true);
        }
      }),
      RUNS,
    );
  });
});

describe("scope records", () => {
  it("scopeViewOf never throws; what decodes is clean and serialisable", () => {
    fc.assert(
      fc.property(bytesFor(scope), fc.integer({ min: 1, max: 2 ** 40 }), (bytes, revision) => {
        const v = scopeViewOf(entry(bytes, revision));
        const wait = scopeLeaseToWait(v, 3000);
        expect(wait).toBeGreaterThanOrEqual(3000);
        expect(wait).toBeLessThanOrEqual(MAX_LEASE_MS);
        const d = decodeScope(bytes);
        if (typeof d !== "string") {
          expect(decodeScope(encodeScope(d))).toEqual(d);
          expect(() => JSON.stringify(d)).not.toThrow();
          expect(Number.isFinite(Date.now() - d.renewedAt)).toBe(true);
        } else expect(v.state).toBe("unknown");
      }),
      RUNS,
    );
  });

  it("commit and reveal (quorum scope term secrets) decode bounded as on a lease record", () => {
    const commit = "ab".repeat(32);
    expect(decodeScope(encodeScope({ ...scope, commit }))).toEqual({ ...scope, commit });
    expect(decodeScope(encodeScope({ ...scope, state: "released", reveal: "s3cret" }))).toEqual({ ...scope, state: "released", reveal: "s3cret" });
    for (const bad of [{ commit: "AB".repeat(32) }, { commit: "ab" }, { commit: 7 }, { reveal: "" }, { reveal: "x".repeat(257) }, { reveal: 1 }]) {
      expect(scopeViewOf(entry(pack({ ...scope, ...bad }), 9)).state, JSON.stringify(bad).slice(0, 40)).toBe("unknown");
    }
  });
});

describe("events", () => {
  it("decodeEvent throws only MalformedError; decoded events render and serialise", () => {
    const bases = events.map((e) => bytesFor(e));
    fc.assert(
      fc.property(fc.oneof(...bases), (bytes) => {
        let e: WireEvent;
        try {
          e = decodeEvent(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(MalformedError);
          return;
        }
        expect(() => jsonLine({ subject: "s", ...e })).not.toThrow();
        expect(() => (e.kind === "state" ? renderState(e) : renderEvent("s", e))).not.toThrow();
        // Unknown fields are kept; the known ones survive a round trip.
        expect(decodeEvent(encodeEvent(e))).toMatchObject({ kind: e.kind, cluster: e.cluster, at: e.at });
      }),
      RUNS,
    );
  });

  it("regent's own events decode unchanged", () => {
    for (const e of events) expect(decodeEvent(encodeEvent(e))).toEqual(e);
  });
});

describe("move requests", () => {
  it("decodeMoveRequest accepts well-formed requests and throws only MalformedError", () => {
    const base = { v: 1, kind: "move", scope: "eu", to: "us", reason: "manual" };
    expect(decodeMoveRequest(packPlain(base))).toEqual({ scope: "eu", to: "us", reason: "manual" });
    expect(decodeMoveRequest(packPlain({ ...base, to: undefined, reason: "failback" }))).toEqual({ scope: "eu", reason: "failback" });
    fc.assert(
      fc.property(bytesFor(base), (bytes) => {
        try {
          const r = decodeMoveRequest(bytes);
          expect(r.scope).toMatch(/^[A-Za-z0-9_-]+$/);
          expect(["manual", "failback"]).toContain(r.reason);
        } catch (err) {
          expect(err).toBeInstanceOf(MalformedError);
        }
      }),
      RUNS,
    );
  });
});
