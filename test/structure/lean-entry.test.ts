/**
 * What an idle `regent elect` / `regent node` process loads (issue 16, lean
 * processes): the static import closure of each command's module must not
 * reach code it only needs on request. prom-client (with @opentelemetry/api,
 * ~80 modules and its default collectors, ~10 MB of a node's RSS) loads only
 * with --metrics-port; nothing pulls in the dashboard, the drills, the
 * launcher, the simulation or yaml. `import type` and dynamic `import()` do
 * not count: they load nothing at start.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

/** Static value imports of one source file: relative files (resolved to .ts) and package names. */
function staticImports(file: string): { files: string[]; packages: string[] } {
  const src = readFileSync(file, "utf8");
  const files: string[] = [];
  const packages: string[] = [];
  for (const m of src.matchAll(/^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?["']([^"']+)["']/gm)) {
    if (m[2]) continue; // `import type` / `export type`: erased
    // `import { type A, type B } from` is erased too (verbatim module syntax keeps only an empty import if any)
    if (/^\s*import\s*\{\s*(type\s+\w+\s*,?\s*)+\}\s*from/.test(m[0])) continue;
    const spec = m[3]!;
    if (spec.startsWith(".")) {
      const ts = resolve(dirname(file), spec.replace(/\.js$/, ".ts"));
      files.push(existsSync(ts) ? ts : resolve(dirname(file), spec));
    } else if (!spec.startsWith("node:")) {
      packages.push(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
    }
  }
  return { files, packages };
}

function closure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const walk = (f: string) => {
    if (files.has(f) || !f.endsWith(".ts")) return;
    files.add(f);
    const i = staticImports(f);
    i.packages.forEach((p) => packages.add(p));
    i.files.forEach(walk);
  };
  walk(entry);
  return { files, packages };
}

const rel = (s: Set<string>) => [...s].map((f) => f.slice(SRC.length)).sort();

describe("start-up imports of the long-running commands", () => {
  for (const cmd of ["elect", "node"]) {
    it(`regent ${cmd} loads no metrics, dashboard, tooling or yaml code until asked`, () => {
      const { files, packages } = closure(join(SRC, "cli", `${cmd}.ts`));
      expect(files.size).toBeGreaterThan(5); // the walk found the command's real graph
      expect([...packages]).toContain("@nats-io/transport-node");
      expect([...packages].filter((p) => ["prom-client", "yaml", "cli-table3", "playwright-core", "etcd3"].includes(p))).toEqual([]);
      expect(rel(files).filter((f) => /^(hierarchy\/metrics|dashboard\/|drills\/|launcher\/|sim\/)/.test(f))).toEqual([]);
    });
  }

  it("the command table (cli/main.ts) imports no command's implementation", () => {
    const { packages, files } = closure(join(SRC, "cli", "main.ts"));
    expect([...packages].sort()).toEqual(["@nats-io/transport-node", "commander"]);
    expect(files.size).toBeLessThan(10);
  });
});
