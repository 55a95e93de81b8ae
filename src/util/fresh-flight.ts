/**
 * Single flight for a read whose answer must postdate the caller's own
 * previous step: a caller joins a read only if it is sent after the caller's
 * `mark()`. Used by the NATS lease store for its stream-config, genesis and
 * last-sequence reads.
 *
 * A read is sent one microtask after the first caller asks, not at once, so
 * every caller that asks in the same turn (the renewals one wheel tick fires,
 * say) joins it: each of them began before it was sent, so it is as fresh for
 * all of them as a read of their own. Sent at once, the next caller's `mark()`
 * would always postdate it, and no read would ever be shared.
 */
export class FreshFlight<T> {
  private epoch = 0;
  private flight: { sentAt: number; p: Promise<T> } | null = null;

  mark(): number {
    return ++this.epoch;
  }

  run(after: number, read: () => Promise<T>): Promise<T> {
    if (this.flight && this.flight.sentAt > after) return this.flight.p;
    // Not sent yet: later than any mark taken so far.
    const f = { sentAt: Number.POSITIVE_INFINITY, p: undefined as unknown as Promise<T> };
    f.p = Promise.resolve().then(() => {
      f.sentAt = ++this.epoch;
      return read();
    });
    this.flight = f;
    const done = () => {
      if (this.flight === f) this.flight = null;
    };
    f.p.then(done, done);
    return f.p;
  }
}
