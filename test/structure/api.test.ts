/**
 * The public API of `regent` (src/index.ts), pinned name by name: adding or
 * removing an export is a deliberate act that edits this list and README's
 * "Library API" screen together. A node's wiring is `regent/wiring`, test
 * tools are `regent/testing`.
 */
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import * as api from "../../src/index.js";

const INDEX = fileURLToPath(new URL("../../src/index.ts", import.meta.url));

const VALUES = [
  // one election
  "startElection", "Election", "observe", "currentLeader",
  // stores and fencing
  "NatsLeaseStore", "FencingGuard",
  // a multi-region node
  "startNode", "RegentNode",
  // events, logging, credentials
  "decodeEvent", "createLogger", "natsAuthOptions",
  // errors
  "RegentError", "ErrorCode", "ConfigError", "ConflictError", "StoreUnavailableError", "BucketMissingError", "MalformedError",
  "AbortedError", "StoppedError", "NotLeaderError", "StaleTokenError", "TokenFloorError", "RefusedError",
];

const TYPES = [
  "ElectionOptions", "ElectionEvent", "Leadership", "DeposedReason", "LeaderInfo", "ObserveOptions", "Timing", "TimingOptions",
  "LeaseStore", "StoreEntry", "CallOptions", "WatchOptions", "NatsLeaseStoreOptions", "FencingGuardOptions",
  "NodeOptions", "NodeRoleEvent", "Role", "ScopeOptions", "MoveResult",
  "WireEvent", "LeaderEvent", "ScopeEvent", "Logger", "NatsAuth",
];

/** Every name src/index.ts exports, types included, as the compiler sees them. */
function exportedNames(): { values: string[]; types: string[] } {
  const program = ts.createProgram([INDEX], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const module = checker.getSymbolAtLocation(program.getSourceFile(INDEX)!)!;
  const values: string[] = [];
  const types: string[] = [];
  for (const s of checker.getExportsOfModule(module)) {
    const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
    (target.flags & ts.SymbolFlags.Value ? values : types).push(s.name);
  }
  return { values: values.sort(), types: types.sort() };
}

describe("the public API (src/index.ts)", () => {
  it("exports exactly the pinned values at run time", () => {
    expect(Object.keys(api).sort()).toEqual([...VALUES].sort());
  });

  it("exports exactly the pinned names, types included (48: 24 values, 24 types)", () => {
    const { values, types } = exportedNames();
    expect(values).toEqual([...VALUES].sort());
    expect(types).toEqual([...TYPES].sort());
    expect(values.length + types.length).toBe(48);
  }, 60_000);

  it("offers no simulation or mutation hook on the election's options", () => {
    // `simulation.mutate` replaced the election's machine (mutation tests): it must stay off the public type.
    // Checked by the type checker (`tsc --noEmit`): a key added to the type, or one missing here, fails to compile.
    type Sim = NonNullable<api.ElectionOptions["simulation"]>;
    const keys: Record<keyof Sim, true> = { now: true, clock: true, random: true, wallNow: true, suspend: true };
    expect(Object.keys(keys)).not.toContain("mutate");
  });
});
