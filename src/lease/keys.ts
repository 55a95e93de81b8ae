/**
 * What a key, a key filter and a revision may be, for every store (NATS and
 * the in-memory double) and for the options that name a lease key (election,
 * observe, the CLI). One definition, so a key accepted in one place is never
 * refused by another.
 */
import { ConfigError } from "../errors.js";
import { isReservedKey } from "./store.js";

// The NATS KV client's rules: tokens of [-/_=a-zA-Z0-9] separated by single
// dots (no leading, trailing or doubled dot). A key that passes here works on NATS.
const KV_KEY = /^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$/;
const VALID_FILTER = /^[-/=.>*\w]+$/;

/** Throws {@link ConfigError} when `key` is not a valid NATS KV key. */
export function assertValidKey(key: string): void {
  if (typeof key !== "string" || !KV_KEY.test(key)) {
    throw new ConfigError("key", `invalid key ${JSON.stringify(key)}`);
  }
}

/** {@link assertValidKey}, and not a reserved key (`_regent.…`): what a lease key may be. */
export function assertLeaseKey(key: string): void {
  assertValidKey(key);
  if (isReservedKey(key)) throw new ConfigError("key", `${JSON.stringify(key)} is reserved`);
}

/** Throws {@link ConfigError} when `filter` is not a valid key or `*`/`>` pattern. */
export function assertValidFilter(filter: string): void {
  const tokens = filter.split(".");
  const badGt = tokens.some((t, i) => t.includes(">") && (t !== ">" || i !== tokens.length - 1));
  const badStar = tokens.some((t) => t.includes("*") && t !== "*");
  if (filter.startsWith(".") || filter.endsWith(".") || filter.includes("..") || !VALID_FILTER.test(filter) || badGt || badStar) {
    throw new ConfigError("filter", `invalid key filter ${JSON.stringify(filter)}`);
  }
}

/** Throws {@link ConfigError} unless `rev` is a positive safe integer (0 never names a write). */
export function assertValidRevision(rev: number): void {
  if (!Number.isSafeInteger(rev) || rev < 1) {
    throw new ConfigError("expectedRevision", `must be a positive integer, got ${rev}`);
  }
}

/**
 * Validates a lease key given as an option (`field` names it in the error):
 * a NATS KV key as in {@link assertValidKey}, and at most 255 characters.
 */
export function validateKey(field: string, key: unknown): string {
  if (typeof key !== "string" || !KV_KEY.test(key) || key.length > 255) {
    throw new ConfigError(field, `must be a KV key of [-/_=a-zA-Z0-9] tokens separated by dots, got ${JSON.stringify(key)}`);
  }
  return key;
}
