#!/usr/bin/env node
/**
 * Builds dist/ (the compiled package) from src/:
 *
 *   node scripts/build.mjs             incremental tsc, copy assets, stamp
 *   node scripts/build.mjs --if-stale  the same, only when src/ changed since the last build
 *   node scripts/build.mjs --clean     from scratch (prepack: no stale file in the tarball)
 *
 * `bin/regent.js` imports {@link distIsFresh} in a git clone to decide between
 * dist/ and the TypeScript sources, so an edit is never run as stale JS.
 * Plain JavaScript on purpose: it must run before anything is compiled.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Written after a successful build; its mtime is the build's time. */
const STAMP = join(ROOT, "dist", ".build-stamp");
/** Files tsc does not emit but the package reads at run time. */
const ASSETS = ["dashboard/page.html"];

/** Newest mtime (ms) of any file under `dir`. */
function newestMtime(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    const t = e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs;
    if (t > newest) newest = t;
  }
  return newest;
}

/**
 * True when dist/ was built after the last change to src/ and the build
 * config. A checkout or an edit updates mtimes, so both make it stale.
 */
export function distIsFresh(root = ROOT) {
  const stamp = join(root, "dist", ".build-stamp");
  if (!existsSync(stamp)) return false;
  const built = statSync(stamp).mtimeMs;
  const inputs = [join(root, "package.json"), join(root, "tsconfig.json"), join(root, "tsconfig.build.json")];
  return newestMtime(join(root, "src")) <= built && inputs.every((f) => !existsSync(f) || statSync(f).mtimeMs <= built);
}

export function build({ clean = false } = {}) {
  if (clean) rmSync(join(ROOT, "dist"), { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", join(ROOT, "tsconfig.build.json")], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`tsc exited with ${r.status ?? r.signal}`);
  for (const a of ASSETS) {
    mkdirSync(dirname(join(ROOT, "dist", a)), { recursive: true });
    copyFileSync(join(ROOT, "src", a), join(ROOT, "dist", a));
  }
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  if (args.includes("--if-stale") && distIsFresh()) process.exit(0);
  const t0 = performance.now();
  try {
    build({ clean: args.includes("--clean") });
  } catch (err) {
    process.stderr.write(`build: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`build: ${relative(process.cwd(), join(ROOT, "dist")) || "dist"}/ in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}
