/**
 * Simulation fault: forged lease records (issue 14). A writer with publish
 * rights on a bucket writes, with no expected-sequence header, records the
 * protocol never writes: a `released` copy of the current holder's record
 * (holder and token copied, the term secret guessed), a held record for an
 * unknown holder with a jumped token, or that holder's release with a
 * secret that does not match its commitment. docs/safety.md (R8) says no
 * follower takes any of these at once, whatever the holder sees; the
 * oracle checks it. (Deletes, and a forger's own held-then-released pair,
 * are not on the menu: a candidate that has observed nothing trusts a
 * vacant key and a first-seen term, the residual R8 states.)
 */
import { encodeRecord, viewOf } from "../lease/record.js";
import type { MemoryLeaseStore } from "../lease/memory-store.js";

/** Tokens no legitimate term reaches in a simulation. */
export const FORGED_TOKEN = 2 ** 50;
const FORGER = "forger";

/** Forges one record on `key` of `store`, chosen by `random`; returns a description for the trace, or null. */
export function forgeOnce(store: MemoryLeaseStore, key: string, random: () => number): string | null {
  const v = viewOf(store.peek(key));
  if (v.state !== "held" && v.state !== "released") return null;
  const base = { ...v.record, commit: undefined, reveal: undefined };
  const hex = () => Math.floor(random() * 2 ** 52).toString(16).padStart(16, "0").repeat(4);
  if (v.state === "held" && v.holder === FORGER) {
    store.forge(key, "put", encodeRecord({ ...base, token: v.token, released: true, reveal: hex() }));
    return `forged release of ${FORGER}'s forged term on ${store.name}/${key}`;
  }
  if (v.state === "held" && random() < 0.6) {
    store.forge(key, "put", encodeRecord({ ...base, token: v.token, released: true, reveal: hex() }));
    return `forged release of ${v.holder}#${v.token} on ${store.name}/${key}`;
  }
  store.forge(key, "put", encodeRecord({ ...base, holder: FORGER, token: FORGED_TOKEN, released: false, commit: hex() }));
  return `forged held record (${FORGER}, token 2^50) on ${store.name}/${key}`;
}
