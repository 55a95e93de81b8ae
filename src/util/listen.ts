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
