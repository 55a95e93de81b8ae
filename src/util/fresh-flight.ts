/** A small single-flight helper for reads (used by the NATS lease store). */
/**
 * Single flight for a read whose answer must postdate the caller's own
 * previous step: a caller joins a read in flight only if it was sent after
 * the caller's `mark()`.
 */
export class FreshFlight<T> {
  private epoch = 0;
  private flight: { from: number; p: Promise<T> } | null = null;

  mark(): number {
    return ++this.epoch;
  }

  run(after: number, read: () => Promise<T>): Promise<T> {
    if (this.flight && this.flight.from > after) return this.flight.p;
    const f = { from: ++this.epoch, p: read() };
    this.flight = f;
    const done = () => {
      if (this.flight === f) this.flight = null;
    };
    f.p.then(done, done);
    return f.p;
  }
}

