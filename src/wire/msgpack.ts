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
import { MalformedError } from "../errors.js";

/**
 * Largest payload {@link unpackPlain} decodes: NATS's default max_payload.
 * Regent's records and events are well under 64 KiB; a larger value can only
 * be foreign, and decoding megabytes of it costs seconds of event loop.
 */
export const MAX_DECODE_BYTES = 1024 * 1024;
/**
 * Deepest nesting {@link unpackPlain} decodes. Regent's payloads nest at
 * most 4 deep; msgpackr recurses per level and overflows the stack at about
 * 10,000 (measured), so depth is checked before decoding, without recursion.
 */
export const MAX_DECODE_DEPTH = 32;

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

/**
 * Decodes msgpack. Throws {@link MalformedError} on bytes that are too large,
 * nested deeper than {@link MAX_DECODE_DEPTH}, truncated or not one value.
 */
export function unpackPlain(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) throw new MalformedError("not a byte array");
  if (bytes.length > MAX_DECODE_BYTES) throw new MalformedError(`payload of ${bytes.length} bytes exceeds ${MAX_DECODE_BYTES}`);
  checkShape(bytes);
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new MalformedError((err as Error).message, { cause: err });
  }
}

/**
 * Decodes msgpack that must be one map with string keys (every payload
 * regent sends is one). Throws {@link MalformedError} saying which `what`
 * (an event, a move request) was not msgpack, or not a map.
 */
export function unpackMap(bytes: Uint8Array, what: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = unpackPlain(bytes);
  } catch (err) {
    throw new MalformedError(`${what} is not msgpack: ${(err as Error).message}`, { cause: err });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw) || raw instanceof Uint8Array) throw new MalformedError(`${what} is not a map`);
  return raw as Record<string, unknown>;
}

/**
 * Walks the msgpack structure iteratively: one value, no trailing bytes,
 * every length within the buffer, containers at most {@link MAX_DECODE_DEPTH}
 * deep, and no container claiming more elements than bytes remain (a 5-byte
 * header claiming 4 billion elements would otherwise be decoded element by
 * element).
 */
function checkShape(b: Uint8Array): void {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const fail = (why: string): never => {
    throw new MalformedError(why);
  };
  let pos = 0;
  // Elements still to read in each open container, innermost last.
  const open: number[] = [];
  let values = 1;
  const need = (n: number) => {
    if (pos + n > b.length) fail("truncated");
  };
  const uint = (n: 1 | 2 | 4): number => {
    need(n);
    const v = n === 1 ? view.getUint8(pos) : n === 2 ? view.getUint16(pos) : view.getUint32(pos);
    pos += n;
    return v;
  };
  const skip = (n: number) => {
    need(n);
    pos += n;
  };
  const container = (elements: number) => {
    if (elements > b.length - pos) fail(`container of ${elements} elements in ${b.length - pos} bytes`);
    if (elements === 0) return;
    if (open.length >= MAX_DECODE_DEPTH) fail(`nested deeper than ${MAX_DECODE_DEPTH}`);
    open.push(elements);
  };
  while (values > 0 || open.length > 0) {
    if (open.length > 0) {
      if (open[open.length - 1] === 0) {
        open.pop();
        continue;
      }
      open[open.length - 1]!--;
    } else values--;
    need(1);
    const t = b[pos++]!;
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) continue;
    if (t >= 0x80 && t <= 0x8f) container(2 * (t & 0x0f));
    else if (t >= 0x90 && t <= 0x9f) container(t & 0x0f);
    else if (t >= 0xa0 && t <= 0xbf) skip(t & 0x1f);
    else if (t === 0xc1) fail("reserved type byte 0xc1");
    else if (t === 0xc4 || t === 0xd9) skip(uint(1));
    else if (t === 0xc5 || t === 0xda) skip(uint(2));
    else if (t === 0xc6 || t === 0xdb) skip(uint(4));
    else if (t === 0xc7) skip(uint(1) + 1);
    else if (t === 0xc8) skip(uint(2) + 1);
    else if (t === 0xc9) skip(uint(4) + 1);
    else if (t === 0xca) skip(4);
    else if (t === 0xcb) skip(8);
    else if (t === 0xcc || t === 0xd0) skip(1);
    else if (t === 0xcd || t === 0xd1) skip(2);
    else if (t === 0xce || t === 0xd2) skip(4);
    else if (t === 0xcf || t === 0xd3) skip(8);
    else if (t >= 0xd4 && t <= 0xd8) skip(1 + (1 << (t - 0xd4)));
    else if (t === 0xdc) container(uint(2));
    else if (t === 0xdd) container(uint(4));
    else if (t === 0xde) container(2 * uint(2));
    else if (t === 0xdf) container(2 * uint(4));
  }
  if (pos !== b.length) fail(`${b.length - pos} trailing bytes`);
}
