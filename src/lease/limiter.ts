/**
 * Bounds the store calls in flight on one NATS connection.
 *
 * Why: N elections starting together issue N reads, N writes and N watch
 * requests at once. Unbounded, the replies arrive faster than the event loop
 * can handle them, every call's deadline passes in the local queue rather
 * than on the server, and the retries keep the process saturated (measured:
 * 10,000 elections never all led). A queued call's deadline keeps running, so
 * a holder's validity, counted from before the call, only gets more
 * conservative while it waits.
 */

/** Set `cancelled` when the caller no longer wants the slot. */
export interface Ticket {
  cancelled: boolean;
}

interface Waiter {
  ticket: Ticket;
  resolve: (admitted: boolean) => void;
}

/** A counting semaphore with a FIFO queue. */
export class Limiter {
  private inFlight = 0;
  private queue: Waiter[] = [];
  private head = 0;

  constructor(readonly max: number) {}

  /** Calls currently admitted. */
  get active(): number {
    return this.inFlight;
  }

  /** Calls waiting for a slot (including ones given up, until they are skipped). */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /**
   * Resolves `true` when a slot is taken (call {@link release} after), or
   * `false` when `ticket.cancelled` was set before a slot came free.
   */
  acquire(ticket: Ticket): Promise<boolean> {
    if (ticket.cancelled) return Promise.resolve(false);
    if (this.inFlight < this.max && this.waiting === 0) {
      this.inFlight++;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => this.queue.push({ ticket, resolve }));
  }

  /** Frees a slot, handing it to the next waiter that has not given up. */
  release(): void {
    while (this.head < this.queue.length) {
      const w = this.queue[this.head++]!;
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      if (w.ticket.cancelled) {
        w.resolve(false);
        continue;
      }
      w.resolve(true); // the slot passes on
      return;
    }
    this.inFlight--;
  }
}
