/**
 * Turns a listener registration into an async iterator: events are queued
 * between `next()` calls, so a slow consumer loses nothing.
 */
export async function* listen<T>(
  /** Registers `push` as a listener; returns the unsubscribe. */
  subscribe: (push: (e: T) => void) => () => unknown,
  opts: { signal?: AbortSignal | undefined; ended?: () => boolean } = {},
): AsyncGenerator<T> {
  const queue: T[] = [];
  let wake: (() => void) | null = null;
  const off = subscribe((e) => {
    queue.push(e);
    wake?.();
  });
  const onAbort = () => wake?.();
  opts.signal?.addEventListener("abort", onAbort);
  try {
    for (;;) {
      while (queue.length) yield queue.shift()!;
      if (opts.ended?.() || opts.signal?.aborted) return;
      await new Promise<void>((r) => (wake = r));
      wake = null;
    }
  } finally {
    off();
    opts.signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Calls every listener with `e`, over a copy so that a listener may
 * unsubscribe itself. One that throws is reported to `threw` and the rest
 * still hear `e`: a caller's bug must not cut the others off.
 */
export function notifyAll<T>(listeners: Iterable<(e: T) => void>, e: T, threw: (err: unknown) => void): void {
  for (const l of [...listeners]) {
    try {
      l(e);
    } catch (err) {
      threw(err);
    }
  }
}
