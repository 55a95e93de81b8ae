/**
 * Small helpers for the nats-server launcher: free loopback ports, polling and
 * tiny HTTP-JSON reads of the monitoring endpoint. Kept apart so the launcher
 * stays readable, and so tests can reuse {@link waitFor}.
 */
import { createServer, type Server } from "node:net";
import { AbortedError } from "../errors.js";

/** Loopback host every launched server binds to. */
export const LOOPBACK = "127.0.0.1";

/**
 * Returns `count` distinct ports that were free on 127.0.0.1 a moment ago.
 *
 * All sockets are held open at the same time so the kernel hands out distinct
 * ports, then released. Another process may grab one before nats-server binds
 * it (the usual race of this technique); the launcher detects the resulting
 * early exit and retries with new ports.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const srv = createServer();
      servers.push(srv);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          srv.once("error", reject);
          srv.listen(0, LOOPBACK, () => {
            const addr = srv.address();
            if (addr && typeof addr === "object") resolve(addr.port);
            else reject(new Error("could not read bound port"));
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this long (default 10 000 ms). */
  timeoutMs?: number;
  /** Pause between attempts (default 50 ms). */
  intervalMs?: number;
  /** Describes the condition in the timeout error. */
  what?: string;
  /** Aborts the wait with `AbortedError`. */
  signal?: AbortSignal;
}

/**
 * Polls `probe` until it returns a value other than `undefined`, `null` or
 * `false`, and returns that value. Exceptions thrown by `probe` count as "not
 * yet" (servers refuse connections while starting); the last one is attached
 * as the cause of the timeout error.
 */
export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: WaitForOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    if (opts.signal?.aborted) throw new AbortedError("wait aborted", { cause: opts.signal.reason });
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? "condition"}`, {
        cause: lastErr,
      });
    }
    await sleep(intervalMs, opts.signal);
  }
}

/** Resolves after `ms`, or early (without throwing) when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** GETs `url` and parses JSON; throws on HTTP errors or when it takes longer than `timeoutMs`. */
export async function getJson<T = unknown>(url: string, timeoutMs = 2_000): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}: ${text.slice(0, 200)}`);
  return JSON.parse(text) as T;
}
