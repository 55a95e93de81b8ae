/**
 * Import direction in src/ (docs/decisions.md, "Imports point down"): the
 * rules in .dependency-cruiser.cjs — no cycles, every room imports only rooms
 * below it (so the library never imports tooling), nothing imports test/ or
 * bench/, and only the simulation and the entry points import the test double
 * MemoryLeaseStore. `npx depcruise src --config .dependency-cruiser.cjs`
 * prints the same report.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cruise, type ICruiseOptions, type ICruiseResult, type IViolation } from "dependency-cruiser";
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

async function cruiseSrc(baseDir: string): Promise<ICruiseResult> {
  const options: ICruiseOptions = await extractDepcruiseOptions(join(ROOT, ".dependency-cruiser.cjs"));
  const tsConfig = extractTSConfig(join(ROOT, "tsconfig.json"));
  const out = await cruise(["src"], { ...options, baseDir, outputType: "json" }, {}, { tsConfig });
  return typeof out.output === "string" ? (JSON.parse(out.output) as ICruiseResult) : out.output;
}

/** One line per violation: rule, then the import (or the whole cycle). */
function readable(vs: IViolation[]): string {
  return vs
    .map((v) => {
      const path = v.cycle?.length ? [v.from, ...v.cycle.map((c) => (typeof c === "string" ? c : c.name))].join(" → ") : `${v.from} → ${v.to}`;
      return `  ${v.rule.name}: ${path}`;
    })
    .join("\n");
}

describe("imports in src/", () => {
  it("point down only: no cycles, no upward import, no test code in production", async () => {
    const result = await cruiseSrc(ROOT);
    // A cruise that found next to nothing would pass vacuously.
    expect(result.summary.totalCruised).toBeGreaterThan(100);
    const edges = new Set(result.modules.flatMap((m) => m.dependencies.map((d) => `${m.source} → ${d.resolved}`)));
    expect(edges.has("src/cli/main.ts → src/topology/load.ts")).toBe(true);
    const violations = result.summary.violations;
    // Printed as one line per violation; .dependency-cruiser.cjs says why each rule exists.
    expect(readable(violations), `${violations.length} import rule violation(s) in src/`).toBe("");
  });

  describe("the rules bite", () => {
    // A throwaway tree with one of each kind of violation, cruised with the same rules.
    const dir = mkdtempSync(join(tmpdir(), "regent-imports-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const files: Record<string, string> = {
      "src/util/up.ts": 'import { tool } from "../cli/tool.js";\nexport const up = tool;\n',
      "src/cli/tool.ts": 'import { up } from "../util/up.js";\nexport const tool = 1;\nexport const again = up;\n',
      "src/lease/prod.ts": 'import { MemoryLeaseStore } from "./memory-store.js";\nexport const s = MemoryLeaseStore;\n',
      "src/lease/memory-store.ts": "export class MemoryLeaseStore {}\n",
      "src/wire/t.ts": 'import { helper } from "../../test/helper.js";\nexport const t = helper;\n',
      "test/helper.ts": "export const helper = 1;\n",
      "src/scopes/lost.ts": 'import { gone } from "./missing.js";\nexport const g = gone;\n',
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }

    it("catch a cycle, an upward import, a test import, the test double and an unresolvable import", async () => {
      const result = await cruiseSrc(dir);
      const seen = new Set(result.summary.violations.map((v) => `${v.rule.name} ${v.from} → ${v.to}`));
      for (const want of [
        "library-imports-tooling src/util/up.ts → src/cli/tool.ts",
        "layer-errors.ts+util+wire src/util/up.ts → src/cli/tool.ts",
        "production-imports-test-double src/lease/prod.ts → src/lease/memory-store.ts",
        "src-imports-tests src/wire/t.ts → test/helper.ts",
      ]) {
        expect([...seen].join("\n"), want).toContain(want);
      }
      const all = readable(result.summary.violations);
      // The cycle is reported once, from whichever end the cruiser reaches first.
      expect(result.summary.violations.some((v) => v.rule.name === "no-circular" && ["src/util/up.ts", "src/cli/tool.ts"].includes(v.from)), all).toBe(true);
      expect(result.summary.violations.some((v) => v.rule.name === "not-to-unresolvable" && v.from === "src/scopes/lost.ts"), all).toBe(true);
    });
  });
});
