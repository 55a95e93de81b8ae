import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { MalformedError } from "../../src/errors.js";
import { IntervalRecorder, checkIntervals, readIntervals, type LeadershipInterval } from "../../src/observability/oracle.js";
import { monotonicNowMs } from "../../src/util/clock.js";

function iv(lease: string, holder: string, token: number, start: number, end: number): LeadershipInterval {
  return { lease, holder, token, start, end };
}

describe("monotonicNowMs", () => {
  it("is fractional milliseconds and never goes backwards", () => {
    const a = monotonicNowMs();
    const b = monotonicNowMs();
    expect(b).toBeGreaterThanOrEqual(a);
  });

  it("advances at the rate of performance.now()", async () => {
    const m0 = monotonicNowMs();
    const p0 = performance.now();
    await new Promise((r) => setTimeout(r, 50));
    const dm = monotonicNowMs() - m0;
    const dp = performance.now() - p0;
    expect(dm).toBeGreaterThanOrEqual(45);
    expect(Math.abs(dm - dp)).toBeLessThan(5);
  });
});

describe("checkIntervals", () => {
  it("accepts a clean handover sequence", () => {
    const r = checkIntervals([iv("L", "a", 1, 0, 100), iv("L", "b", 2, 150, 300), iv("L", "a", 3, 400, 500)]);
    expect(r).toEqual({ ok: true, violations: [] });
  });

  it("catches overlapping leaders and names both", () => {
    const r = checkIntervals([iv("region/eu", "a", 1, 0, 100), iv("region/eu", "b", 2, 99, 200)]);
    expect(r.ok).toBe(false);
    expect(r.violations).toHaveLength(1);
    const v = r.violations[0]!;
    expect(v.kind).toBe("overlap");
    expect(v.lease).toBe("region/eu");
    expect(v.message).toMatch(/split brain.*a#1.*b#2.*1\.000 ms/);
  });

  it("catches an interval nested inside another, regardless of input order", () => {
    const r = checkIntervals([iv("L", "b", 2, 20, 30), iv("L", "a", 1, 0, 100), iv("L", "c", 3, 200, 300)]);
    expect(r.violations.map((v) => v.kind)).toEqual(["overlap"]);
  });

  it("accepts touching intervals (a.end === b.start)", () => {
    expect(checkIntervals([iv("L", "a", 1, 0, 100), iv("L", "b", 2, 100, 200)]).ok).toBe(true);
  });

  it("catches a token regression even without overlap", () => {
    const r = checkIntervals([iv("L", "a", 5, 0, 100), iv("L", "b", 4, 200, 300)]);
    expect(r.ok).toBe(false);
    expect(r.violations[0]!.kind).toBe("token-regression");
    expect(r.violations[0]!.message).toMatch(/4 <= 5/);
  });

  it("compares against every earlier token, not just the previous one", () => {
    const r = checkIntervals([iv("L", "a", 5, 0, 10), iv("L", "b", 7, 20, 30), iv("L", "c", 6, 40, 50)]);
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]!.message).toMatch(/c#6.*6 <= 7/);
  });

  it("catches the same holder reusing a token for two leaderships", () => {
    const r = checkIntervals([iv("L", "a", 3, 0, 10), iv("L", "a", 3, 20, 30)]);
    expect(r.violations.map((v) => v.kind)).toEqual(["duplicate-token"]);
  });

  it("catches an interval that ends before it starts", () => {
    const r = checkIntervals([iv("L", "a", 1, 50, 40)]);
    expect(r.violations.map((v) => v.kind)).toEqual(["negative-interval"]);
  });

  it("checks many leases independently", () => {
    const intervals: LeadershipInterval[] = [];
    for (let l = 0; l < 20; l++) {
      // Same holders, same tokens and same times in every lease: fine per lease.
      intervals.push(iv(`region/${l}`, "a", 1, 0, 100), iv(`region/${l}`, "b", 2, 100, 200));
    }
    expect(checkIntervals(intervals).ok).toBe(true);

    intervals.push(iv("region/7", "c", 3, 150, 250));
    const r = checkIntervals(intervals);
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]!.lease).toBe("region/7");
  });
});

describe("IntervalRecorder + readIntervals", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "regent-oracle-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** A recorder whose clock the test sets. */
  function recorder(name: string): { rec: IntervalRecorder; clock: { t: number } } {
    const clock = { t: 0 };
    const rec = new IntervalRecorder(join(dir, "sub", `${name}.jsonl`), { now: () => clock.t });
    return { rec, clock };
  }

  it("reconstructs a cleanly ended interval", () => {
    const { rec, clock } = recorder("a");
    clock.t = 10;
    rec.started("region/eu", "a", 1, 60);
    rec.extended("region/eu", "a", 1, 110);
    clock.t = 80;
    rec.ended("region/eu", "a", 1);
    rec.close();
    expect(readIntervals([rec.file])).toEqual([
      { lease: "region/eu", holder: "a", token: 1, start: 10, end: 80, source: rec.file },
    ]);
  });

  it("ends a killed process's interval at its last recorded deadline", () => {
    const { rec, clock } = recorder("a");
    clock.t = 10;
    rec.started("L", "a", 1, 60);
    rec.extended("L", "a", 1, 110);
    rec.extended("L", "a", 1, 160);
    rec.close();
    // SIGKILL mid-write: a torn line without newline must be ignored.
    appendFileSync(rec.file, '{"ev":"extended","lease":"L","hol');
    const [only, ...rest] = readIntervals([rec.file]);
    expect(rest).toEqual([]);
    expect(only).toMatchObject({ holder: "a", token: 1, start: 10, end: 160 });
  });

  it("finds a split brain across two participants' files", () => {
    const a = recorder("a");
    const b = recorder("b");
    a.clock.t = 0;
    a.rec.started("L", "a", 1, 100);
    a.rec.extended("L", "a", 1, 200); // a renewed, then was killed
    b.clock.t = 150;
    b.rec.started("L", "b", 2, 250); // b took over before a's deadline
    b.clock.t = 240;
    b.rec.ended("L", "b", 2);
    const r = checkIntervals(readIntervals([a.rec.file, b.rec.file]));
    expect(r.ok).toBe(false);
    expect(r.violations[0]!.message).toMatch(/a#1 \[0\.000, 200\.000\].*b#2 \[150\.000, 240\.000\].*50\.000 ms/);
  });

  it("keeps several leaderships and leases apart within one file", () => {
    const { rec, clock } = recorder("a");
    clock.t = 0;
    rec.started("L1", "a", 1, 50);
    rec.started("L2", "a", 1, 50);
    clock.t = 40;
    rec.ended("L1", "a", 1);
    clock.t = 60;
    rec.started("L1", "a", 4, 120);
    const got = readIntervals([rec.file]).map((i) => [i.lease, i.token, i.start, i.end]);
    expect(got).toEqual(
      expect.arrayContaining([
        ["L1", 1, 0, 40],
        ["L2", 1, 0, 50],
        ["L1", 4, 60, 120],
      ]),
    );
    expect(got).toHaveLength(3);
  });

  it("throws on a malformed line in the middle and on a missing file", () => {
    const file = join(dir, "bad.jsonl");
    writeFileSync(file, 'garbage\n{"ev":"ended","lease":"L","holder":"a","token":1,"at":1}\n');
    expect(() => readIntervals([file])).toThrow(MalformedError);
    expect(() => readIntervals([join(dir, "missing.jsonl")])).toThrow(/ENOENT/);
  });
});
