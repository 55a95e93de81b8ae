/**
 * The act log's stamps: an act is dated when it was decided, so a pause
 * between the role check and the write (a SIGSTOP in the drills) cannot date
 * it outside the term it was decided in.
 */
import { describe, expect, it } from "vitest";
import { actOnce } from "../../src/cli/act-log.js";

describe("actOnce", () => {
  it("stamps each act before its role check: a pause right after the check does not move the stamp", () => {
    let clock = 1_000;
    const validUntil = 1_500;
    const lines: string[] = [];
    // The role is valid when checked; the process is then paused for 10 s before it writes.
    const held = () => {
      const ok = clock < validUntil;
      clock += 10_000;
      return { held: ok, token: 7 };
    };
    actOnce("n1", [{ lease: "region/eu", role: held }, { role: () => ({ held: false, token: null }) }], (l) => lines.push(l), () => clock);
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([{ t: 1_000, id: "n1", lease: "region/eu", token: 7 }]);
  });

  it("writes nothing for a role not held, and one line per role held", () => {
    const lines: string[] = [];
    actOnce("n1", [{ lease: "a", role: () => ({ held: true, token: 1 }) }, { lease: "b", role: () => ({ held: false, token: null }) }, { role: () => ({ held: true, token: 3 }) }], (l) => lines.push(l), () => 5);
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([{ t: 5, id: "n1", lease: "a", token: 1 }, { t: 5, id: "n1", token: 3 }]);
  });
});
