import { describe, expect, it } from "vitest";
import { Limiter } from "../../src/lease/limiter.js";

describe("Limiter", () => {
  it("admits at most `max` at once, then hands slots over in arrival order", async () => {
    const l = new Limiter(2);
    const order: number[] = [];
    const admitted = [0, 1, 2, 3, 4].map((i) => l.acquire({ cancelled: false }).then((ok) => (ok && order.push(i), ok)));
    await Promise.resolve();
    await Promise.resolve();
    expect(order).toEqual([0, 1]);
    expect(l.active).toBe(2);
    expect(l.waiting).toBe(3);
    l.release();
    await admitted[2];
    expect(order).toEqual([0, 1, 2]);
    l.release();
    l.release();
    await Promise.all(admitted);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(l.active).toBe(2);
    l.release();
    l.release();
    expect(l.active).toBe(0);
  });

  it("skips a waiter that gave up: it resolves false and never holds a slot", async () => {
    const l = new Limiter(1);
    expect(await l.acquire({ cancelled: false })).toBe(true);
    const quitter = { cancelled: false };
    const p1 = l.acquire(quitter);
    const p2 = l.acquire({ cancelled: false });
    quitter.cancelled = true;
    l.release();
    expect(await p1).toBe(false);
    expect(await p2).toBe(true);
    expect(l.active).toBe(1);
    expect(l.waiting).toBe(0);
    l.release();
    expect(l.active).toBe(0);
    expect(await l.acquire({ cancelled: true })).toBe(false);
    expect(l.active).toBe(0);
  });
});
