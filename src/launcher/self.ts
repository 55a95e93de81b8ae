import { fileURLToPath } from "node:url";

/**
 * How to start another `regent` process: node running this package's
 * `bin/regent.js` (which loads the TypeScript sources through tsx). Resolved
 * from this file, not from argv, so it works from tests and embedders too.
 */
export function selfCommand(): { command: string; args: string[] } {
  return { command: process.execPath, args: [fileURLToPath(new URL("../../bin/regent.js", import.meta.url))] };
}
