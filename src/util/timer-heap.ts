/**
 * A binary min-heap of timers ordered by (due time, sequence number). The
 * sequence number is unique, so the order is total: timers due together fire
 * in the order they were set, the same on every run (simulations rely on it).
 */
export interface HeapTimer {
  at: number;
  seq: number;
}

const less = (a: HeapTimer, b: HeapTimer) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

export class TimerHeap<T extends HeapTimer> {
  private readonly h: T[] = [];

  get length(): number {
    return this.h.length;
  }

  /** The earliest timer, or undefined when empty. */
  peek(): T | undefined {
    return this.h[0];
  }

  push(x: T): void {
    const h = this.h;
    let i = h.push(x) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  /** Removes and returns the earliest timer, or undefined when empty. */
  pop(): T | undefined {
    const h = this.h;
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
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  /** Keeps only the timers for which `keep` holds. */
  retain(keep: (x: T) => boolean): void {
    const live = this.h.filter(keep);
    this.h.length = 0;
    for (const x of live) this.push(x);
  }
}
