import { describe, expect, it } from "vitest";
import { SimulatedClock } from "xstate";
import { TimerWheel } from "../../src/util/wheel.js";
import type { Clock } from "../../src/util/clock.js";

/** A SimulatedClock that counts the timers pending on it. */
function countingClock() {
  const sim = new SimulatedClock();
  let pending = 0;
  let max = 0;
  const clock: Clock = {
    now: () => sim.now(),
    setTimeout: (fn, ms) => {
      pending++;
      max = Math.max(max, pending);
      return sim.setTimeout(() => {
        pending--;
        fn();
      }, ms);
    },
    clearTimeout: (id) => {
      pending--;
      sim.clearTimeout(id as number);
    },
  };
  return { sim, clock, pending: () => pending, max: () => max };
}

describe("TimerWheel", () => {
  it("runs many entries in due order (ties in scheduling order) behind one clock timer", () => {
    const c = countingClock();
    const w = new TimerWheel(c.clock, () => c.sim.now());
    const ran: string[] = [];
    const delays = [50, 10, 30, 10, 70, 0, 30];
    delays.forEach((d, i) => w.schedule(d, () => ran.push(`${d}:${i}`)));
    expect(c.max()).toBe(1);
    c.sim.increment(9);
    expect(ran).toEqual(["0:5"]);
    c.sim.increment(1);
    expect(ran).toEqual(["0:5", "10:1", "10:3"]);
    c.sim.increment(100);
    expect(ran).toEqual(["0:5", "10:1", "10:3", "30:2", "30:6", "50:0", "70:4"]);
    expect(c.pending()).toBe(0);
    expect(c.max()).toBe(1);
  });

  it("cancelled entries never run; an earlier entry re-arms the single timer", () => {
    const c = countingClock();
    const w = new TimerWheel(c.clock, () => c.sim.now());
    const ran: number[] = [];
    const cancel = w.schedule(20, () => ran.push(20));
    w.schedule(40, () => ran.push(40));
    w.schedule(5, () => ran.push(5));
    cancel();
    cancel(); // idempotent
    c.sim.increment(100);
    expect(ran).toEqual([5, 40]);
    expect(c.max()).toBe(1);
    expect(c.pending()).toBe(0);
  });

  it("an entry scheduled by a callback runs on its own turn, also with delay 0", () => {
    const c = countingClock();
    const w = new TimerWheel(c.clock, () => c.sim.now());
    const ran: string[] = [];
    w.schedule(10, () => {
      ran.push("a");
      w.schedule(0, () => ran.push("a0"));
    });
    w.schedule(10, () => ran.push("b"));
    c.sim.increment(10);
    expect(ran).toEqual(["a", "b"]);
    c.sim.increment(1);
    expect(ran).toEqual(["a", "b", "a0"]);
  });

  it("drops cancelled entries once they outnumber the live ones", () => {
    const c = countingClock();
    const w = new TimerWheel(c.clock, () => c.sim.now());
    const cancels = Array.from({ length: 3000 }, (_, i) => w.schedule(1000 + i, () => {}));
    for (const cancel of cancels.slice(0, 2500)) cancel();
    expect(w.size).toBeLessThan(1500);
    let ran = 0;
    w.schedule(5000, () => ran++);
    c.sim.increment(10_000);
    expect(ran).toBe(1);
    expect(w.size).toBe(0);
  });
});
