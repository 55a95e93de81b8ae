#!/usr/bin/env node
// The installed package runs the compiled CLI in dist/: plain node, no
// TypeScript loader in the process. A git clone (src/ present) runs dist/
// too while it is fresh; when dist/ is missing or older than src/ (an edit
// since the last `npm run build`), it runs the sources through tsx, a dev
// dependency, so a clone never runs stale code and needs no build step.
import { existsSync } from "node:fs";
import { setFlagsFromString } from "node:v8";

// A regent process is small and long-lived: keep V8's young generation at
// its initial size (1 MiB semi-spaces) instead of letting start-up growth
// (up to 16 MiB each) stay resident for the life of the process: ~12 MB of an
// idle `regent node`'s RSS. Scavenges stay sub-millisecond. Read by V8 at each
// resize, so it applies although set after start; an explicit
// --max-semi-space-size / --semi-space-growth-factor (NODE_OPTIONS) wins.
if (![...process.execArgv, process.env.NODE_OPTIONS ?? ""].some((a) => a.includes("semi-space"))) setFlagsFromString("--semi-space-growth-factor=1");

const root = new URL("../", import.meta.url);
const dist = new URL("dist/cli/main.js", root);
let fresh = !existsSync(new URL("src/", root));
if (!fresh) fresh = (await import(new URL("scripts/build.mjs", root).href)).distIsFresh();

if (fresh) {
  await import(dist.href);
} else {
  let register;
  try {
    ({ register } = await import("tsx/esm/api"));
  } catch {
    register = undefined;
  }
  if (register) {
    register();
    await import(new URL("src/cli/main.ts", root).href);
  } else if (existsSync(dist)) {
    process.stderr.write("regent: dist/ is older than src/ and tsx is not installed; running dist/ (npm run build to update it)\n");
    await import(dist.href);
  } else {
    process.stderr.write("regent: dist/ is missing; run `npm run build` (or `npm install` for tsx)\n");
    process.exit(1);
  }
}
