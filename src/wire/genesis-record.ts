/**
 * The genesis record a recovering store writes at `GENESIS_KEY` (names.ts)
 * of a recreated bucket (docs/safety.md, "A lost bucket"): a plain msgpack
 * map that no lease or scope decoder accepts as a record, so a key that was
 * never written since reads as held by an unknown holder at its revision.
 */
import { packPlain, unpackPlain } from "./msgpack.js";

/** Schema version of the genesis record. */
export const GENESIS_VERSION = 1;
/** The `regent` field that marks a genesis record (a lease record read as one is refused). */
export const GENESIS_MARK = "genesis";

/**
 * Encodes a genesis record. `floor`: the token floor the recoverer raised
 * the stream above; `wallNow`: wall-clock ms, display only. The memory store
 * writes one without either.
 */
export function encodeGenesis(floor?: number, wallNow?: number): Uint8Array {
  return packPlain({ regent: GENESIS_MARK, v: GENESIS_VERSION, floor, at: wallNow });
}

/** True when `value` is a genesis record. */
export function isGenesis(value: Uint8Array): boolean {
  try {
    const r = unpackPlain(value) as { regent?: unknown } | null;
    return typeof r === "object" && r !== null && r.regent === GENESIS_MARK;
  } catch {
    return false;
  }
}
