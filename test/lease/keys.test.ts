/**
 * The store's key check (assertValidKey: NatsLeaseStore, MemoryLeaseStore)
 * and the option check (validateKey: election, observe, `regent elect
 * --key`) share one definition of a NATS KV key (src/lease/keys.ts). They
 * used to be two regexes written differently; this pins that they accept the
 * same keys, so a key an election accepts is never refused by its store.
 */
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { assertLeaseKey, assertValidKey, validateKey } from "../../src/lease/keys.js";

/** True when `f` returns; false when it throws a ConfigError (anything else is rethrown). */
const accepts = (f: () => unknown) => {
  try {
    f();
    return true;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return false;
  }
};

describe("lease keys", () => {
  it("the store and the options accept the same keys, up to validateKey's 255 characters", () => {
    const alphabet = ["a", "Z", "0", "_", "-", "/", "=", ".", "*", ">", " ", "é", "$"];
    let all = [""];
    let checked = 0;
    let valid = 0;
    const disagree: string[] = [];
    for (let len = 0; len <= 4; len++) {
      for (const key of all) {
        const store = accepts(() => assertValidKey(key));
        if (accepts(() => validateKey("key", key)) !== store) disagree.push(key);
        checked++;
        if (store) valid++;
      }
      all = all.flatMap((k) => alphabet.map((c) => k + c));
    }
    expect(disagree).toEqual([]);
    expect(checked).toBe(1 + 13 + 13 ** 2 + 13 ** 3 + 13 ** 4);
    expect(valid).toBeGreaterThan(1000);
    expect(accepts(() => assertValidKey("a".repeat(256)))).toBe(true);
    expect(accepts(() => validateKey("key", "a".repeat(256)))).toBe(false);
    expect(accepts(() => validateKey("key", "a".repeat(255)))).toBe(true);
  });

  it("a lease key is a valid key that is not reserved", () => {
    expect(accepts(() => assertLeaseKey("region.eu"))).toBe(true);
    expect(accepts(() => assertLeaseKey("_regent.genesis"))).toBe(false);
    expect(accepts(() => assertLeaseKey("a..b"))).toBe(false);
  });
});
