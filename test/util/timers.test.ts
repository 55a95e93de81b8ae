import { describe, expect, it } from "vitest";
import { AbortedError } from "../../src/errors.js";
import { sharedOpener, untilAborted } from "../../src/util/timers.js";

/** An open that settles when the test says so. */
function slowOpen() {
  const calls: string[] = [];
  const pending: { resolve: (v: string) => void; reject: (e: Error) => void }[] = [];
  const open = (key: string) => {
    calls.push(key);
    return new Promise<string>((resolve, reject) => pending.push({ resolve, reject }));
  };
  return { open, calls, pending };
}

describe("sharedOpener", () => {
  it("a caller that gives up does not cancel the open: the next caller gets the store it opened", async () => {
    const o = slowOpen();
    const get = sharedOpener(o.open);
    const ac = new AbortController();
    const first = get("us-east", ac.signal);
    ac.abort();
    await expect(first).rejects.toBeInstanceOf(AbortedError);
    o.pending[0]!.resolve("store us-east");
    await expect(get("us-east", AbortSignal.timeout(1_000))).resolves.toBe("store us-east");
    expect(o.calls).toEqual(["us-east"]);
  });

  it("a failed open is forgotten: the next caller opens again", async () => {
    const o = slowOpen();
    const get = sharedOpener(o.open);
    const first = get("ap-south");
    o.pending[0]!.reject(new Error("no responders"));
    await expect(first).rejects.toThrow("no responders");
    const second = get("ap-south");
    o.pending[1]!.resolve("store ap-south");
    await expect(second).resolves.toBe("store ap-south");
    expect(o.calls).toEqual(["ap-south", "ap-south"]);
  });
});

describe("untilAborted", () => {
  it("rejects at once for a fired signal, and passes a result through otherwise", async () => {
    await expect(untilAborted(Promise.resolve(1), AbortSignal.abort())).rejects.toBeInstanceOf(AbortedError);
    await expect(untilAborted(Promise.resolve(2), new AbortController().signal)).resolves.toBe(2);
  });
});
