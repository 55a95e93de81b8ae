import { describe, expect, it } from "vitest";
import * as api from "../src/index.js";
import { MemoryLeaseStore } from "../src/testing.js";

describe("errors", () => {
  it("has exactly the documented codes (adding one is a deliberate act)", () => {
    expect(Object.values(api.ErrorCode).sort()).toEqual(
      ["ABORTED", "BUCKET_MISSING", "CONFLICT", "INVALID_CONFIG", "MALFORMED", "NOT_LEADER", "REFUSED", "STALE_TOKEN", "STOPPED", "STORE_UNAVAILABLE", "TOKEN_FLOOR"],
    );
  });

  it("every error class carries its code and is a RegentError", () => {
    const cases: [api.RegentError, string][] = [
      [new api.ConfigError("leaseMs", "bad"), "INVALID_CONFIG"],
      [new api.ConflictError("k", 3), "CONFLICT"],
      [new api.StoreUnavailableError("down"), "STORE_UNAVAILABLE"],
      [new api.BucketMissingError("b"), "BUCKET_MISSING"],
      [new api.MalformedError("x"), "MALFORMED"],
      [new api.AbortedError(), "ABORTED"],
      [new api.StoppedError(), "STOPPED"],
      [new api.NotLeaderError(), "NOT_LEADER"],
      [new api.StaleTokenError(1, 2), "STALE_TOKEN"],
      [new api.TokenFloorError("b", 10, 3), "TOKEN_FLOOR"],
      [new api.RefusedError("no"), "REFUSED"],
    ];
    expect(cases).toHaveLength(Object.keys(api.ErrorCode).length);
    for (const [err, code] of cases) {
      expect(err).toBeInstanceOf(api.RegentError);
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe(code);
      expect(err.name).toBe(err.constructor.name);
    }
  });

  it("config errors name the field", () => {
    const store = new MemoryLeaseStore();
    const bad: [Record<string, unknown>, string][] = [
      [{ leaseMs: -1 }, "leaseMs"],
      [{ leaseMs: 1000, renewMs: 600 }, "renewMs"],
      [{ maxDrift: 0.5 }, "maxDrift"],
      [{ key: "bad key" }, "key"],
      [{ id: "" }, "id"],
      [{ leaseMs: Number.NaN }, "leaseMs"],
    ];
    for (const [opts, field] of bad) {
      let err: unknown;
      try {
        api.startElection({ store, key: "ok.key", ...opts } as api.ElectionOptions);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(opts)).toBeInstanceOf(api.ConfigError);
      expect((err as api.ConfigError).field).toBe(field);
    }
  });
});
