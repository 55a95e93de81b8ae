import { describe, expect, it } from "vitest";
import { pack } from "msgpackr";
import { decodeRecord, encodeRecord, viewOf, type LeaseRecord } from "../../src/lease/record.js";

const rec: LeaseRecord = { v: 1, holder: "a", token: 0, leaseMs: 2000, renewMs: 666, acquiredAt: 1, renewedAt: 2, released: false, meta: { region: "eu" } };
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
});
