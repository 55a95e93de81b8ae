#!/usr/bin/env node
// The installed package runs the compiled CLI in dist/: plain node, no
// TypeScript loader in the process. A git clone (src/ present) runs dist/
// too while it is fresh; when dist/ is missing or older than src/ (an edit
// since the last `npm run build`), it runs the sources through tsx, a dev
// dependency, so a clone never runs stale code and needs no build step.
import { existsSync } from "node:fs";

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
