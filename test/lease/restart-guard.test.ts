/**
 * The Q3 check of NatsLeaseStore (docs/quorum.md): a stream whose last
 * sequence is below a revision the store had seen lost acknowledged writes.
 * "Seen" must mean seen before the stream-info request was sent: replies of
 * concurrent writes arriving while it is in flight are newer than the info.
 */
import { describe, expect, it } from "vitest";
import { RestartGuard } from "../../src/lease/restart-guard.js";

const stream = (last: number) => ({ created: "2026-11-30T00:00:00Z", state: { last_seq: last } });

describe("RestartGuard", () => {
  it("a stream-info reply that predates a concurrent write's reply is not a lost write", () => {
    const detected: string[] = [];
    const g = new RestartGuard("b", () => "srv", stream(3), (err) => detected.push(err.message));
    const atSend = g.mark(); // the info request goes out with revision 3 the highest seen
    g.note(4); // a concurrent update's reply arrives first…
    g.observe(stream(3), atSend); // …then the info, taken before that update applied
    expect(detected).toEqual([]);
    expect(() => g.enter("update", "k")).not.toThrow();
  });

  it("a last sequence below a revision seen before the request is a lost write", () => {
    const detected: string[] = [];
    const g = new RestartGuard("b", () => "srv", stream(3), (err) => detected.push(err.message));
    g.note(7);
    g.observe(stream(5), g.mark());
    expect(detected).toHaveLength(1);
    expect(() => g.enter("update", "k")).toThrow(/lost/);
  });
});
