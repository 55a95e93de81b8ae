/**
 * The multi-region harness of the integration tests and benchmarks: the
 * shared {@link RegentHarness} (src/launcher/harness.ts) on a loopback
 * supercluster (light mode unless told otherwise) from a temporary copy of
 * the shipped regions/ with test timings.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startHarness, type RegentHarness, type StartHarnessOptions } from "../../src/launcher/harness.js";
import type { Supercluster } from "../../src/launcher/supercluster.js";

export interface TopologyEdits {
  regionLeaseMs?: number;
  regionRenewMs?: number;
  globalLeaseMs?: number;
  globalRenewMs?: number;
  scopeLeaseMs?: number;
  failbackAfterMs?: number;
  candidates?: number;
}

/** Copies the shipped regions/ into a temp dir, applying edits. */
export function testRegions(edits: TopologyEdits = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "regent-regions-"));
  cpSync("regions", dir, { recursive: true });
  for (const f of readdirSync(dir).filter((x) => x.endsWith(".json"))) {
    const p = join(dir, f);
    const j = JSON.parse(readFileSync(p, "utf8"));
    if (f === "global.json") {
      if (edits.globalLeaseMs) j.global.leaseMs = edits.globalLeaseMs;
      if (edits.globalRenewMs) j.global.renewMs = edits.globalRenewMs;
      if (edits.scopeLeaseMs) j.scopes.leaseMs = edits.scopeLeaseMs;
      if (edits.failbackAfterMs !== undefined) j.scopes.failbackAfterMs = edits.failbackAfterMs;
    } else {
      if (edits.regionLeaseMs) j.leaseMs = edits.regionLeaseMs;
      if (edits.regionRenewMs) j.renewMs = edits.regionRenewMs;
      if (edits.candidates) j.candidates = edits.candidates;
      delete j.priorities;
    }
    writeFileSync(p, JSON.stringify(j, null, 2));
  }
  return dir;
}

/** The harness the tests use: every candidate of `regionsDir` on a loopback supercluster. */
export type TestHarness = RegentHarness<Supercluster>;

/**
 * Starts the supercluster (in `mode`; full runs each region's `servers`),
 * then (after `beforeNodes`, e.g. subscribing to the bus) every node, and
 * resolves once all are ready; a failed or aborted start stops what it started.
 */
export function startTestHarness(regionsDir: string, opts: Pick<StartHarnessOptions, "mode" | "signal"> & { beforeNodes?(h: TestHarness): Promise<void> } = {}): Promise<TestHarness> {
  return startHarness(regionsDir, { logLevel: process.env.REGENT_TEST_LOG_LEVEL ?? "warn", clientName: "test", readyTimeoutMs: 60_000, ...opts });
}
