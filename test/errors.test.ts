import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as api from "../src/index.js";
import { exitCodeOf } from "../src/cli/conventions.js";
import { CheckFailedError, LaunchFailedError } from "../src/errors.js";
import { MemoryLeaseStore } from "../src/testing.js";

const SRC = fileURLToPath(new URL("../src", import.meta.url));
/** Where every thrown error must be coded: every room, the tooling ones (launcher, drills, sim, topology) too, and the entry points. */
const CODED = [
  "util", "wire", "lease", "election", "scopes", "hierarchy", "observability", "dashboard", "cli",
  "launcher", "drills", "sim", "topology",
  "errors.ts", "index.ts", "wiring.ts", "testing.ts",
];
/**
 * Plain errors that never reach a caller, each with why: the publisher's
 * replies imitate the NATS client's own errors, which nats-call.ts maps to
 * StoreUnavailableError like any client error; the machine's placeholder
 * actors are always replaced by election.ts.
 */
const UNCODED: Record<string, number> = {
  "errors.ts": 1, // RegentError extends Error
  "lease/ack-publisher.ts": 4, // 3 × new Error + JsPublishError extends Error
  "lease/nats-call.ts": 1, // DeadlineError extends Error: mapped to StoreUnavailableError in the same file
  "election/machine.ts": 1,
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

describe("errors", () => {
  it("has exactly the documented codes (adding one is a deliberate act)", () => {
    expect(Object.values(api.ErrorCode).sort()).toEqual(
      ["ABORTED", "BUCKET_MISSING", "CHECK_FAILED", "CONFLICT", "INVALID_CONFIG", "LAUNCH_FAILED", "MALFORMED", "NOT_LEADER", "REFUSED", "STALE_TOKEN", "STOPPED", "STORE_UNAVAILABLE", "TOKEN_FLOOR"],
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
      [new CheckFailedError("drift"), "CHECK_FAILED"],
      [new LaunchFailedError("exited"), "LAUNCH_FAILED"],
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
      [{ store: undefined }, "store"],
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

  it("nothing in src/ throws a plain Error (only the counted exceptions)", () => {
    const plain = /\bnew (Error|TypeError|RangeError|SyntaxError)\(|\bextends (Error|TypeError|RangeError)\b/g;
    const found: Record<string, number> = {};
    const files = CODED.flatMap((r) => (r.endsWith(".ts") ? [join(SRC, r)] : sources(join(SRC, r))));
    expect(files).toHaveLength(sources(SRC).length);
    for (const f of files) {
      const n = readFileSync(f, "utf8").match(plain)?.length ?? 0;
      if (n > 0) found[relative(SRC, f)] = n;
    }
    expect(found).toEqual(UNCODED);
  });

  it("the errors regent throws instead of plain ones keep their messages", () => {
    const cases: [api.RegentError, string, string][] = [
      [new api.ConfigError("store", "startElection: store required", { named: true }), "INVALID_CONFIG", "startElection: store required"],
      [new api.ConfigError("leaseMs", "bad"), "INVALID_CONFIG", "leaseMs: bad"],
      [new LaunchFailedError("timed out after 5 ms waiting for x", { cause: new Error("inner") }), "LAUNCH_FAILED", "timed out after 5 ms waiting for x"],
      [new CheckFailedError("invariant violated: two holders"), "CHECK_FAILED", "invariant violated: two holders"],
      [new api.StoppedError("supercluster is stopped"), "STOPPED", "supercluster is stopped"],
      [new api.AbortedError("drill interrupted"), "ABORTED", "drill interrupted"],
    ];
    for (const [err, code, message] of cases) {
      expect(err.code).toBe(code);
      expect(err.message).toBe(message);
    }
    let err: unknown;
    try {
      api.startElection(undefined as never);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(api.ConfigError);
    expect((err as Error).message).toBe("startElection: options object required");
  });

  it("the codes the tooling rooms throw instead of plain errors keep the CLI's exit 1", () => {
    for (const err of [new LaunchFailedError("x"), new CheckFailedError("x"), new api.StoppedError("x"), new api.AbortedError("x")]) {
      expect(exitCodeOf(err), err.code).toBe(exitCodeOf(new Error("x")));
      expect(exitCodeOf(err), err.code).toBe(1);
    }
  });
});
