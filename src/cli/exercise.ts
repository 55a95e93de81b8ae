/**
 * `regent region kill|pause|resume|restart <region>` and
 * `regent node kill|pause|resume|restart <id>`: exercise controls for the
 * deployment a `regent up` in another terminal started. They POST to the
 * control API of `up`'s dashboard server on loopback, authenticated by the
 * per-run token `up` writes (mode 0600) to its control file.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ConfigError, RefusedError, StoreUnavailableError } from "../errors.js";
import type { ControlResult } from "../dashboard/controls.js";

/** What `up` writes so other terminals can reach its control API. */
export interface ControlFile {
  url: string;
  token: string;
  cluster: string;
  pid: number;
}

/** Default control file of a deployment: private to this user, one per deployment name. */
export function defaultControlFile(cluster: string): string {
  const uid = typeof process.getuid === "function" ? process.getuid() : "user";
  return join(tmpdir(), `regent-${uid}`, `up-${cluster}.json`);
}

export function writeControlFile(path: string, c: ControlFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, JSON.stringify(c) + "\n", { mode: 0o600 });
  chmodSync(path, 0o600); // an existing file keeps its old mode on write
}

export function removeControlFile(path: string): void {
  rmSync(path, { force: true });
}

function readControlFile(path: string): ControlFile {
  let raw: string;
  try {
    raw = readFileSync(path, "utf8");
  } catch {
    throw new ConfigError("--control", `no running \`regent up\` found (no control file ${path}); start one with: regent up`);
  }
  let c: ControlFile;
  try {
    c = JSON.parse(raw) as ControlFile;
  } catch {
    throw new ConfigError("--control", `${path} is not a regent control file (not JSON)`);
  }
  if (typeof c?.url !== "string" || typeof c.token !== "string") throw new ConfigError("--control", `${path} is not a regent control file`);
  return c;
}

export interface ExerciseCliOptions {
  cluster: string;
  /** Control file (default: {@link defaultControlFile} of the cluster; the CLI reads $REGENT_CONTROL into it). */
  control?: string;
  json?: boolean;
  timeoutMs?: number;
}

/** Sends one control request to `up` and prints what it did. Exits non-zero (throws) when it failed. */
export async function runExercise(target: "region" | "node", action: string, name: string, opts: ExerciseCliOptions): Promise<void> {
  const file = opts.control ?? process.env.REGENT_CONTROL ?? defaultControlFile(opts.cluster);
  const c = readControlFile(file);
  let res: Response;
  try {
    res = await fetch(new URL("/api/control", c.url), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${c.token}` },
      body: JSON.stringify({ target, action, name }),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 90_000),
    });
  } catch (err) {
    throw new StoreUnavailableError(`regent up (pid ${c.pid}) did not answer at ${c.url}: ${(err as Error).message}; is it still running?`);
  }
  const r = (await res.json().catch(() => ({ ok: false, message: `HTTP ${res.status}` }))) as ControlResult;
  // It answered and declined (unknown name, nothing to resume…).
  if (!res.ok || !r.ok) throw new RefusedError(r.message);
  process.stdout.write(opts.json ? JSON.stringify(r) + "\n" : r.message + "\n");
}
