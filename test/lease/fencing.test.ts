import { describe, expect, it } from "vitest";
import { FencingGuard, StaleTokenError } from "../../src/index.js";

describe("FencingGuard", () => {
  it("accepts tokens ≥ the highest seen and rejects lower ones, per resource", () => {
    const g = new FencingGuard();
    expect(g.accept(5)).toBe(true);
    expect(g.accept(5)).toBe(true); // one term writes many times
    expect(g.accept(4)).toBe(false);
    expect(g.accept(9)).toBe(true);
    expect(g.accept(5)).toBe(false);
    expect(g.accept(1, "other")).toBe(true);
    expect(g.highestToken()).toBe(9);
    expect(g.rejected).toBe(2);
    expect(() => g.check(3)).toThrow(StaleTokenError);
    expect(() => g.accept(-1)).toThrow(/non-negative/);
  });
});

describe("FencingGuard high-water marks persist with the resource", () => {
  /** A resource that keeps its data and the guard's marks together, as one record would in a database. */
  class Resource {
    saved: { data: string[]; marks: Record<string, number> } = { data: [], marks: {} };
    private staged: Record<string, number> = {};
    guard = this.open();
    open(): FencingGuard {
      return new FencingGuard({ initial: this.saved.marks, onRaise: (r, t) => void (this.staged[r] = t) });
    }
    write(token: number, line: string, resource = "default"): void {
      this.staged = {};
      this.guard.check(token, resource);
      // Commit data and marks together.
      this.saved = { data: [...this.saved.data, line], marks: { ...this.saved.marks, ...this.staged } };
    }
    restart(): void {
      this.guard = this.open();
    }
  }

  it("a restarted guard still rejects the tokens its predecessor had fenced", () => {
    const r = new Resource();
    r.write(5, "a");
    r.write(9, "b");
    r.write(3, "x", "other");
    r.restart();
    expect(() => r.write(5, "late write of a deposed leader")).toThrow(StaleTokenError);
    r.write(9, "c");
    expect(() => r.write(2, "late", "other")).toThrow(StaleTokenError);
    expect(r.saved.data).toEqual(["a", "b", "x", "c"]);
    expect(r.guard.export()).toEqual({ default: 9, other: 3 });
    expect(r.guard.highestOverall()).toBe(9);
  });

  it("a failing persist admits nothing and does not move the mark; bad saved marks are refused", () => {
    const g = new FencingGuard({
      initial: { default: 4 },
      onRaise: (_r, t) => {
        if (t > 10) throw new Error("disk full");
      },
    });
    expect(g.accept(7)).toBe(true);
    expect(() => g.accept(11)).toThrow("disk full");
    expect(g.highestToken()).toBe(7);
    expect(g.accept(8)).toBe(true);
    expect(() => new FencingGuard({ initial: { default: -1 } })).toThrow(/initial.default/);
  });
});
