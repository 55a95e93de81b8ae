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
