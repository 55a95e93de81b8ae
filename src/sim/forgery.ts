/**
 * Simulation fault: forged lease records (issue 14). A writer with publish
 * rights on a bucket writes, with no expected-sequence header, records the
 * protocol never writes: a `released` copy of the current holder's record
 * (holder and token copied, the term secret guessed), a held record for an
 * unknown holder with a jumped token, or that holder's release with a
 * secret that does not match its commitment — or that does (the forger
 * knows its own secret), a delete of the key, or a verbatim copy of the
 * holder's record (its watch may miss it). docs/safety.md (R9) says no
 * follower takes any of these at once, and no holder extends its validity
 * on a copy, whatever the holder sees; the oracle checks it.
 */
import { viewOf } from "../lease/record.js";
import type { MemoryLeaseStore } from "../lease/memory-store.js";
import { commitOf, encodeRecord } from "../wire/lease-record.js";

/** Tokens no legitimate term reaches in a simulation. */
export const FORGED_TOKEN = 2 ** 50;
const FORGER = "forger";
/** The forger's own term secret: its release of its own term verifies against its commitment. */
const FORGER_SECRET = "forger-secret";

/**
 * Forges one record on `key` of `store`, chosen by `random`; returns a
 * description for the trace, or null. `keepTerm`: never lower the record's
 * term (token) — no delete, a forged term above the record's — for the
 * quorum simulation, when a lower term on the store would take the highest
 * term won off too many stores (docs/quorum.md, Q4).
 */
export function forgeOnce(store: MemoryLeaseStore, key: string, random: () => number, opts: { keepTerm?: boolean } = {}): string | null {
  const v = viewOf(store.peek(key));
  if (v.state !== "held" && v.state !== "released") return null;
  const base = { ...v.record, commit: undefined, reveal: undefined };
  const hex = () => Math.floor(random() * 2 ** 52).toString(16).padStart(16, "0").repeat(4);
  if (v.state === "held" && v.holder === FORGER) {
    const reveal = random() < 0.5 ? FORGER_SECRET : hex();
    store.forge(key, "put", encodeRecord({ ...base, token: v.token, released: true, reveal }));
    return `forged release of ${FORGER}'s forged term on ${store.name}/${key} (${reveal === FORGER_SECRET ? "right" : "wrong"} secret)`;
  }
  const pick = random();
  if (v.state === "held" && pick < 0.15 && !opts.keepTerm) {
    store.forge(key, "delete");
    return `forged delete of ${v.holder}#${v.token} on ${store.name}/${key}`;
  }
  if (v.state === "held" && pick < 0.3) {
    store.forge(key, "put", store.peek(key)!.value);
    return `forged copy of ${v.holder}#${v.token}'s record on ${store.name}/${key}`;
  }
  if (v.state === "held" && pick < 0.65) {
    store.forge(key, "put", encodeRecord({ ...base, token: v.token, released: true, reveal: hex() }));
    return `forged release of ${v.holder}#${v.token} on ${store.name}/${key}`;
  }
  const token = opts.keepTerm ? Math.max(FORGED_TOKEN, v.token + 1) : FORGED_TOKEN;
  store.forge(key, "put", encodeRecord({ ...base, holder: FORGER, token, released: false, commit: commitOf(FORGER_SECRET) }));
  return `forged held record (${FORGER}, token ${token === FORGED_TOKEN ? "2^50" : token}) on ${store.name}/${key}`;
}
