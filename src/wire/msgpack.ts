/**
 * The one msgpack codec regent uses for stored records and published events,
 * tuned so every other language sees plain msgpack:
 * - maps with string keys, no msgpackr records or extensions;
 * - whole numbers beyond 32 bits are written as 64-bit integers (msgpackr
 *   alone would write them as float64, which strict decoders such as Go's
 *   refuse to put into an int64 field);
 * - 64-bit integers from other writers read back as numbers when they fit in
 *   2^53 (msgpackr alone would return BigInt);
 * - `undefined` fields are dropped (msgpackr alone writes an extension type).
 */
import { Packr } from "msgpackr";

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  // Present in msgpackr 1.12 but missing from its type declarations.
  ...({ int64AsType: "auto" } as object),
});

function plain(v: unknown): unknown {
  if (typeof v === "number") return Number.isInteger(v) && (v > 0xffffffff || v < -0x80000000) && Number.isSafeInteger(v) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object" && !(v instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = plain(x);
    return out;
  }
  return v;
}

/** Encodes a plain object as portable msgpack. */
export function packPlain(value: unknown): Uint8Array {
  return packr.pack(plain(value));
}

/** Decodes msgpack; throws on malformed bytes. */
export function unpackPlain(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}
