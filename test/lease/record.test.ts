import { describe, expect, it } from "vitest";
import { pack } from "msgpackr";
import { leaseToWait, viewOf } from "../../src/lease/record.js";
import { scopeLeaseToWait, scopeViewOf } from "../../src/scopes/record.js";
import { LEASE_RECORD_VERSION, MAX_LEASE_MS, commitOf, decodeRecord, encodeRecord, type LeaseRecord } from "../../src/wire/lease-record.js";
import { SCOPE_RECORD_VERSION } from "../../src/wire/scope-record.js";

const rec: LeaseRecord = { v: LEASE_RECORD_VERSION, holder: "a", token: 0, leaseMs: 2000, renewMs: 666, acquiredAt: 1, renewedAt: 2, released: false, meta: { region: "eu" } };
const entry = (value: Uint8Array, revision = 7) => ({ key: "k", revision, operation: "put" as const, value });

describe("lease record", () => {
  it("round-trips and derives the token from the acquiring revision", () => {
    expect(decodeRecord(encodeRecord(rec))).toEqual(rec);
    expect(viewOf(entry(encodeRecord(rec)))).toMatchObject({ state: "held", holder: "a", token: 7, revision: 7 });
    expect(viewOf(entry(encodeRecord({ ...rec, token: 3 }), 9))).toMatchObject({ state: "held", token: 3 });
    expect(viewOf(entry(encodeRecord({ ...rec, token: 3, released: true }), 9))).toMatchObject({ state: "released", token: 3 });
  });

  it("treats absence and delete markers as vacant", () => {
    expect(viewOf(null)).toEqual({ state: "vacant", revision: 0 });
    expect(viewOf({ key: "k", revision: 4, operation: "delete", value: new Uint8Array() })).toEqual({ state: "vacant", revision: 4 });
  });

  it("never throws on garbage: unknown holder with a reason", () => {
    const cases = [new Uint8Array([0xc1]), pack("a string"), pack({ v: 2, holder: "x" }), pack({ ...rec, token: -1 }), pack({ ...rec, holder: 5 }), new Uint8Array()];
    for (const c of cases) {
      const v = viewOf(entry(c));
      expect(v.state).toBe("unknown");
      expect(v.state === "unknown" && v.reason.length).toBeGreaterThan(0);
    }
  });

  it("bounds leaseMs to 24 h (a larger one is forged or corrupt: unknown), and successors wait max(own, record's)", () => {
    expect(viewOf(entry(encodeRecord({ ...rec, leaseMs: MAX_LEASE_MS }))).state).toBe("held");
    expect(viewOf(entry(encodeRecord({ ...rec, leaseMs: MAX_LEASE_MS + 1 })))).toMatchObject({ state: "unknown", reason: "timings invalid" });
    expect(viewOf(entry(encodeRecord({ ...rec, renewMs: 1e15 })))).toMatchObject({ state: "unknown" });
    expect(leaseToWait(viewOf(entry(encodeRecord({ ...rec, leaseMs: 10_000 }))), 3_000)).toBe(10_000);
    expect(leaseToWait(viewOf(entry(encodeRecord({ ...rec, leaseMs: 2_000 }))), 3_000)).toBe(3_000);
    expect(leaseToWait(viewOf(entry(encodeRecord({ ...rec, leaseMs: 10_000, released: true }))), 3_000)).toBe(10_000);
    // Unknown: the map's own leaseMs if plausible, else the successor's own lease.
    expect(leaseToWait(viewOf(entry(pack({ v: 2, leaseMs: 8_000 }))), 3_000)).toBe(8_000);
    expect(leaseToWait(viewOf(entry(pack({ v: 2, leaseMs: 1e12 }))), 3_000)).toBe(3_000);
    expect(leaseToWait(viewOf(entry(pack({ v: 2, leaseMs: "8000" }))), 3_000)).toBe(3_000);
    expect(leaseToWait(viewOf(entry(new Uint8Array([0xc1]))), 3_000)).toBe(3_000);
    expect(leaseToWait(viewOf(null), 3_000)).toBe(3_000);
  });

  it("scope records: leaseMs bounded the same way; the authority waits max(own, record's)", () => {
    const scope = { v: SCOPE_RECORD_VERSION, scope: "eu", home: "eu", region: "eu", node: "eu-1", state: "held", token: 5, leaseMs: 10_000, renewMs: 3_333, reason: "initial", grantedBy: { node: "g", token: 1 }, grantedAt: 0, renewedAt: 0 };
    expect(scopeLeaseToWait(scopeViewOf(entry(pack(scope))), 3_000)).toBe(10_000);
    expect(scopeViewOf(entry(pack({ ...scope, leaseMs: MAX_LEASE_MS + 1 })))).toMatchObject({ state: "unknown", reason: "leaseMs invalid" });
    expect(scopeLeaseToWait(scopeViewOf(entry(pack({ ...scope, leaseMs: MAX_LEASE_MS + 1 }))), 3_000)).toBe(3_000);
    expect(scopeLeaseToWait(scopeViewOf(entry(pack({ ...scope, v: 2 }))), 3_000)).toBe(10_000);
  });

  it("commit and reveal (issue 14): decoded when well-formed, unknown otherwise", () => {
    const commit = commitOf("secret");
    expect(commit).toMatch(/^[0-9a-f]{64}$/);
    expect(decodeRecord(encodeRecord({ ...rec, commit }))).toEqual({ ...rec, commit });
    expect(decodeRecord(encodeRecord({ ...rec, released: true, reveal: "secret" }))).toEqual({ ...rec, released: true, reveal: "secret" });
    for (const bad of [pack({ ...rec, commit: "ABC" }), pack({ ...rec, commit: 5 }), pack({ ...rec, reveal: "" }), pack({ ...rec, reveal: "x".repeat(257) }), pack({ ...rec, acquiredAt: Infinity })]) {
      expect(viewOf(entry(bad)).state).toBe("unknown");
    }
  });
});
