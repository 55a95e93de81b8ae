/**
 * FreshFlight: a read is shared by every caller that asked before it was
 * sent, and by no caller that marked after it was sent.
 */
import { describe, expect, it } from "vitest";
import { FreshFlight } from "../../src/util/fresh-flight.js";

/** A read whose replies the test releases by hand, counting sends. */
function manualRead() {
  const pending: ((v: number) => void)[] = [];
  let sent = 0;
  return {
    read: () => new Promise<number>((r) => { sent++; pending.push(r); }),
    reply: (v: number) => pending.shift()!(v),
    get sent() { return sent; },
  };
}

describe("FreshFlight", () => {
  it("callers asking in the same turn share one read, sent after all of them asked", async () => {
    const f = new FreshFlight<number>();
    const r = manualRead();
    const calls = Array.from({ length: 5 }, () => f.run(f.mark(), r.read));
    expect(r.sent).toBe(0); // not sent in the callers' turn
    await Promise.resolve();
    expect(r.sent).toBe(1);
    r.reply(7);
    expect(await Promise.all(calls)).toEqual([7, 7, 7, 7, 7]);
  });

  it("a caller that marks after the read was sent gets a read of its own", async () => {
    const f = new FreshFlight<number>();
    const r = manualRead();
    const first = f.run(f.mark(), r.read);
    await Promise.resolve();
    expect(r.sent).toBe(1);
    const second = f.run(f.mark(), r.read);
    await Promise.resolve();
    expect(r.sent).toBe(2);
    r.reply(1);
    r.reply(2);
    expect([await first, await second]).toEqual([1, 2]);
  });

  it("a caller that marked before the read was sent joins it later, while it is in flight", async () => {
    const f = new FreshFlight<number>();
    const r = manualRead();
    const mark = f.mark();
    const first = f.run(f.mark(), r.read);
    await Promise.resolve();
    const joined = f.run(mark, r.read);
    expect(r.sent).toBe(1);
    r.reply(3);
    expect([await first, await joined]).toEqual([3, 3]);
  });

  it("a read that fails fails every caller that joined it, and the next caller reads again", async () => {
    const f = new FreshFlight<number>();
    let n = 0;
    const failing = () => (n++ === 0 ? Promise.reject(new Error("down")) : Promise.resolve(9));
    const a = f.run(f.mark(), failing);
    const b = f.run(f.mark(), failing);
    await expect(a).rejects.toThrow("down");
    await expect(b).rejects.toThrow("down");
    expect(await f.run(f.mark(), failing)).toBe(9);
    expect(n).toBe(2);
  });
});
