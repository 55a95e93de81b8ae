/**
 * A discrete-event scheduler: simulated time jumps straight to the next due
 * timer, so a minute of cluster life takes milliseconds. It satisfies xstate's
 * clock interface (`setTimeout`/`clearTimeout`), so the real election machines
 * run on it unchanged. Ties fire in scheduling order: runs are deterministic.
 */

interface Timer {
  id: number;
  at: number;
  seq: number;
  fn: () => void;
}

/** Lets every pending promise callback run before the next timer fires. */
export const settle = () => new Promise<void>((r) => setImmediate(r));

export class SimScheduler {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();
  /** Min-heap of timers by (at, seq). */
  private heap: Timer[] = [];
  fired = 0;

  constructor(start = 1_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: (...args: unknown[]) => void, ms: number): number {
    const timer: Timer = { id: ++this.seq, at: this.t + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: this.seq, fn: fn as () => void };
    this.timers.set(timer.id, timer);
    this.push(timer);
    return timer.id;
  }

  clearTimeout(id: unknown): void {
    this.timers.delete(id as number);
  }

  /** Runs every timer due up to `until` (absolute simulated ms), letting promises settle after each. */
  async runUntil(until: number, stop?: () => boolean): Promise<void> {
    await settle();
    for (;;) {
      if (stop?.()) return;
      const next = this.peek();
      if (!next || next.at > until) break;
      this.pop();
      if (!this.timers.delete(next.id)) continue; // cleared
      this.t = Math.max(this.t, next.at);
      this.fired++;
      next.fn();
      await settle();
    }
    this.t = Math.max(this.t, until);
  }

  private push(x: Timer): void {
    const h = this.heap;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  private peek(): Timer | undefined {
    // Drop cleared timers lazily.
    while (this.heap.length && !this.timers.has(this.heap[0]!.id)) this.pop();
    return this.heap[0];
  }

  private pop(): Timer | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}

function less(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
