/**
 * The npm package as a user gets it: `npm pack` (prepack builds dist/ from
 * scratch) of a copy of this checkout, `npm install <tarball>` into a fresh
 * ESM project, then the README's library example, type-checked with
 * TypeScript (NodeNext) and run against a real nats-server; `regent/testing`
 * imports; `npx regent --version` and `--help` work. The tarball holds
 * dist, bin, README, LICENSE and docs only, and installing it on this Node
 * prints no EBADENGINE.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { name: string; version: string };
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");

/** The README's first ```ts block after "## Library": the example a user copies. */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const lib = readme.slice(readme.indexOf("\n## Library\n"));
  const m = /```ts\n([\s\S]*?)```/.exec(lib);
  if (!m) throw new Error("README: no ts block under ## Library");
  return m[1]!;
}

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string }[];
}

describe("npm package", () => {
  let work: string;
  let app: string;
  let pack: PackResult;
  let install: { stdout: string; stderr: string };
  let server: NatsServerHandle;
  // Without the registry's answers from npm's own environment (a developer's .npmrc stays in effect).
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(REGENT_|NATS_|npm_)/.test(k) || /^REGENT_(TEST|NO_PDEATHSIG)/.test(k)));

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "regent-pack-"));
    // Pack a copy: prepack rebuilds dist/ from scratch, which must not pull
    // the compiled CLI from under processes other tests spawn from this checkout.
    const copy = join(work, "src-copy");
    mkdirSync(copy);
    for (const f of ["package.json", "README.md", "LICENSE", "tsconfig.json", "tsconfig.build.json", "bin", "docs", "scripts", "src"]) cpSync(join(ROOT, f), join(copy, f), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), join(copy, "node_modules"));
    const packed = await run("npm", ["pack", "--json", "--pack-destination", work], { cwd: copy, env, maxBuffer: 16 << 20 });
    pack = (JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as PackResult[])[0]!;

    app = join(work, "app");
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "regent-consumer", version: "1.0.0", private: true, type: "module" }, null, 2));
    install = await run("npm", ["install", join(work, pack.filename), "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=warn"], { cwd: app, env, maxBuffer: 16 << 20 });
    server = await startNatsServer();
  }, 300_000);

  afterAll(async () => {
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("ships dist, bin, README, LICENSE and docs only", () => {
    const paths = pack.files.map((f) => f.path);
    for (const p of ["package.json", "README.md", "LICENSE", "bin/regent.js", "dist/index.js", "dist/index.d.ts", "dist/wiring.js", "dist/wiring.d.ts", "dist/testing.js", "dist/testing.d.ts", "dist/cli/main.js", "dist/dashboard/page.html", "docs/safety.md"]) {
      expect(paths, p).toContain(p);
    }
    const stray = paths.filter((p) => !/^(dist\/|bin\/regent\.js$|docs\/[\w-]+\.md$|README\.md$|LICENSE$|package\.json$)/.test(p));
    expect(stray).toEqual([]);
    expect(paths.filter((p) => /\.(ts|map)$/.test(p) && !p.endsWith(".d.ts"))).toEqual([]);
    console.log(`tarball ${pack.filename}: ${pack.entryCount} files, ${(pack.size / 1024).toFixed(0)} KB (unpacked ${(pack.unpackedSize / 1024).toFixed(0)} KB)`);
  });

  it("installs without engine warnings on this Node", () => {
    expect(install.stdout + install.stderr).not.toMatch(/EBADENGINE/);
    const installed = JSON.parse(readFileSync(join(app, "node_modules", "regent", "package.json"), "utf8")) as { version: string };
    expect(installed.version).toBe(PKG.version);
  });

  it("runs the README's library example, type-checked with TypeScript, against a nats-server", async () => {
    writeFileSync(join(app, "example.ts"), readmeExample());
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, outDir: "out", typeRoots: [join(ROOT, "node_modules", "@types")], types: ["node"] },
        files: ["example.ts"],
      }),
    );
    // Type errors fail here (tsc exits non-zero), then the emitted ESM runs.
    await run(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: app });
    const r = await run(process.execPath, [join("out", "example.js")], { cwd: app, env: { ...env, NATS_URL: server.url }, timeout: 60_000 });
    expect(r.stdout).toMatch(/^leader with fencing token \d+ until \d+ \(monotonic ms\)\n$/);
  });

  it("exposes the public API from `regent`, a node's wiring from `regent/wiring` and the test tools from `regent/testing` (ESM)", async () => {
    const script = `
      const api = await import("regent");
      const wiring = await import("regent/wiring");
      const testing = await import("regent/testing");
      console.log(JSON.stringify({
        api: ["startElection", "NatsLeaseStore", "startNode", "FencingGuard", "RegentError", "NotLeaderError"].filter((k) => !api[k]),
        wiring: ["openStoreLayout", "serveNode", "EventPublisher", "RegentMetrics", "serveMetrics", "NodeHealth"].filter((k) => !wiring[k]),
        testing: ["MemoryLeaseStore", "checkIntervals", "IntervalRecorder", "startNatsServer", "startSupercluster", "loadTopology", "runSeed"].filter((k) => !testing[k]),
        leaked: ["MemoryLeaseStore", "checkIntervals", "startNatsServer", "loadTopology", "RegentMetrics", "encodeRecord"].filter((k) => k in api),
      }));`;
    const r = await run(process.execPath, ["--input-type=module", "-e", script], { cwd: app, env });
    expect(JSON.parse(r.stdout)).toEqual({ api: [], wiring: [], testing: [], leaked: [] });
  });

  it("npx regent --version and --help run the compiled CLI", async () => {
    const v = await run("npx", ["--no-install", "regent", "--version"], { cwd: app, env });
    expect(v.stdout).toBe(`${PKG.version}\n`);
    const h = await run("npx", ["--no-install", "regent", "--help"], { cwd: app, env });
    expect(h.stdout).toMatch(/^Usage: regent /);
    for (const cmd of ["elect", "node", "status", "up"]) expect(h.stdout).toMatch(new RegExp(`^  ${cmd}\\b`, "m"));
    // No TypeScript loader in the installed package: tsx is a dev dependency.
    expect(() => readFileSync(join(app, "node_modules", "tsx", "package.json"))).toThrow();
  });
});
