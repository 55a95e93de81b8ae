/**
 * The wire format as another language sees it: events and lease records
 * encoded by regent are decoded by Python's `msgpack` (an independent
 * implementation, Debian `python3-msgpack`), and bytes packed by Python are
 * decoded by `decodeEvent`. docs/wire.md documents what is checked here.
 *
 * Without python3 + msgpack the Python half is skipped locally and FAILS in
 * CI (`CI` set), so CI never goes green without the cross-language check.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pack } from "msgpackr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, MalformedError } from "../../src/errors.js";
import { decodeEvent, encodeEvent, WIRE_VERSION, type LeaderEvent, type ScopeEvent, type StateSnapshot } from "../../src/wire/events.js";
import { encodeRecord, type LeaseRecord } from "../../src/wire/lease-record.js";

/**
 * First interpreter that can `import msgpack`: /usr/bin/python3, then python3
 * on PATH (or only `REGENT_TEST_PYTHON` when set).
 */
function findPython(): string | null {
  const candidates = process.env.REGENT_TEST_PYTHON ? [process.env.REGENT_TEST_PYTHON] : ["/usr/bin/python3", "python3"];
  for (const candidate of candidates) {
    const r = spawnSync(candidate, ["-c", "import msgpack"], { encoding: "utf8", timeout: 15_000 });
    if (r.status === 0) return candidate;
  }
  return null;
}

const PYTHON = findPython();
const IN_CI = Boolean(process.env.CI);

// Wall-clock ms are above 2^32, which is where encoders stop agreeing on int vs float.
const NOW = 1_795_763_644_488;

const elected: LeaderEvent = {
  v: 1,
  kind: "elected",
  tier: "region",
  cluster: "demo",
  region: "eu-west",
  node: "eu-west-2",
  token: 4242,
  leaseMs: 3000,
  previous: { node: "eu-west-1", token: 17 },
  at: NOW,
};

const deposed: LeaderEvent = {
  v: 1,
  kind: "deposed",
  tier: "global",
  cluster: "demo",
  region: "us-east",
  node: "us-east-1",
  token: 99,
  leaseMs: 3000,
  reason: "region-lost",
  at: NOW + 1,
};

const granted: ScopeEvent = {
  v: 1,
  kind: "granted",
  cluster: "demo",
  scope: "eu-west",
  region: "us-east",
  node: "us-east-3",
  token: 305,
  reason: "failover",
  from: { region: "eu-west", node: "eu-west-2", token: 288 },
  at: NOW + 2,
};

const snapshot: StateSnapshot = {
  v: 1,
  kind: "state",
  cluster: "demo",
  regions: {
    "eu-west": { state: "held", node: "eu-west-2", region: "eu-west", token: 4242, revision: 4250, ageMs: 412 },
    "us-east": { state: "vacant", node: null, region: null, token: null, revision: 0, ageMs: null },
    "ap-south": { state: "unreachable", node: null, region: null, token: null, revision: 0, ageMs: null },
  },
  global: { state: "released", node: "us-east-1", region: "us-east", token: 99, revision: 120, ageMs: 3001 },
  scopes: {
    "eu-west": { state: "held", node: "us-east-3", region: "us-east", token: 305, revision: 311, ageMs: 20, home: "eu-west" },
  },
  answeredBy: "ap-south-1",
  at: NOW + 3,
};

const acquiring: LeaseRecord = {
  v: 1,
  holder: "eu-west-2",
  token: 0,
  leaseMs: 3000,
  renewMs: 1000,
  acquiredAt: NOW,
  renewedAt: NOW,
  released: false,
  meta: { region: "eu-west", node: "eu-west-2", address: "nats://10.0.0.7:4222", label: "Zürich ✓" },
};

const releasedRecord: LeaseRecord = { ...acquiring, token: 4242, renewedAt: NOW + 9000, released: true };

/** Messages under test: file name → [original value, encoded bytes]. */
const samples: Record<string, [unknown, Uint8Array]> = {
  elected: [elected, encodeEvent(elected)],
  deposed: [deposed, encodeEvent(deposed)],
  granted: [granted, encodeEvent(granted)],
  state: [snapshot, encodeEvent(snapshot)],
  "record-acquiring": [acquiring, encodeRecord(acquiring)],
  "record-released": [releasedRecord, encodeRecord(releasedRecord)],
};

/**
 * The independent decoder. `decode FILE...` prints {name: {value, types}}
 * where `types` maps every path to its Python type, after refusing anything a
 * plain-msgpack consumer could trip on (ext types, timestamps, bin, non-string
 * keys). `pack JSON OUT` writes msgpack.packb(dict) of the JSON, plus a
 * variant whose `at` is a float.
 */
const PY_SCRIPT = String.raw`
import json, os, sys
import msgpack

def check(x, path):
    if isinstance(x, (msgpack.ExtType, msgpack.Timestamp)):
        sys.exit(f"{path}: msgpack extension type {x!r}; the wire format allows none")
    if isinstance(x, (bytes, bytearray)):
        sys.exit(f"{path}: msgpack bin, expected str")
    if isinstance(x, dict):
        for k, v in x.items():
            if not isinstance(k, str):
                sys.exit(f"{path}: non-string map key {k!r}")
            check(v, f"{path}.{k}" if path else k)
    elif isinstance(x, list):
        for i, v in enumerate(x):
            check(v, f"{path}[{i}]")

def types(x, path, out):
    out[path or "."] = type(x).__name__
    if isinstance(x, dict):
        for k, v in x.items():
            types(v, f"{path}.{k}" if path else k, out)

mode = sys.argv[1]
if mode == "decode":
    result = {}
    for f in sys.argv[2:]:
        with open(f, "rb") as fh:
            obj = msgpack.unpackb(fh.read(), raw=False, strict_map_key=True)
        name = os.path.splitext(os.path.basename(f))[0]
        if not isinstance(obj, dict):
            sys.exit(f"{name}: top level is {type(obj).__name__}, expected a map")
        check(obj, "")
        t = {}
        types(obj, "", t)
        result[name] = {"value": obj, "types": t}
    print(json.dumps(result))
elif mode == "pack":
    ev = json.loads(sys.argv[2])
    with open(sys.argv[3], "wb") as fh:
        fh.write(msgpack.packb(ev))
    ev["at"] = float(ev["at"])
    with open(sys.argv[3] + ".float-at", "wb") as fh:
        fh.write(msgpack.packb(ev))
else:
    sys.exit("usage: decode FILE... | pack JSON OUT")
`;

function runPython(python: string, script: string, args: string[]): string {
  const r = spawnSync(python, [script, ...args], { encoding: "utf8", timeout: 30_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${python} ${args[0]} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

const expectMalformed = (bytes: Uint8Array, message?: RegExp) => {
  let caught: unknown;
  try {
    decodeEvent(bytes);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(MalformedError);
  expect((caught as MalformedError).code).toBe(ErrorCode.Malformed);
  expect((caught as MalformedError).code).toBe("MALFORMED");
  if (message) expect((caught as Error).message).toMatch(message);
};

describe("decodeEvent", () => {
  it("round-trips every kind", () => {
    for (const [name, [original, bytes]] of Object.entries(samples)) {
      if (name.startsWith("record-")) continue;
      expect(decodeEvent(bytes), name).toEqual(original);
    }
  });

  it("rejects bytes that are not msgpack, or not a map, with MalformedError", () => {
    expectMalformed(new Uint8Array([]));
    expectMalformed(new Uint8Array([0xc1])); // the one byte msgpack never uses
    expectMalformed(encodeEvent(elected).subarray(0, 20)); // truncated
    expectMalformed(new TextEncoder().encode("{\"v\":1,\"kind\":\"elected\"}")); // JSON, not msgpack
    expectMalformed(pack("elected"), /not a map/);
    expectMalformed(pack([1, "elected"]), /not a map/);
    expectMalformed(pack(null), /not a map/);
  });

  it("rejects unknown kinds", () => {
    expectMalformed(pack({ ...elected, kind: "crowned" }), /unknown event kind "crowned"/);
    const { kind: _kind, ...noKind } = elected;
    expectMalformed(pack(noKind), /unknown event kind/);
  });

  it("rejects versions it does not know (higher, missing or below 1)", () => {
    expectMalformed(pack({ ...elected, v: WIRE_VERSION + 1 }), /version 2/);
    expectMalformed(pack({ ...snapshot, v: 99 }), /version 99/);
    const { v: _v, ...noVersion } = elected;
    expectMalformed(pack(noVersion), /version/);
    expectMalformed(pack({ ...elected, v: 0 }), /version/);
    expectMalformed(pack({ ...elected, v: "1" }), /version/);
  });

  it("rejects events whose checked fields have the wrong type", () => {
    expectMalformed(pack({ ...elected, tier: "planet" }), /tier/);
    expectMalformed(pack({ ...elected, token: 1.5 }), /token/);
    expectMalformed(pack({ ...elected, token: "4242" }), /token/);
    expectMalformed(pack({ ...granted, scope: 7 }), /scope/);
    expectMalformed(pack({ ...snapshot, regions: null }), /regions/);
    expectMalformed(pack({ ...elected, cluster: undefined }), /cluster/);
  });

  it("keeps unknown fields (consumers ignore them)", () => {
    expect(decodeEvent(pack({ ...elected, addedInV1_1: { x: 1 } }))).toMatchObject(elected);
  });
});

describe.skipIf(!PYTHON && !IN_CI)("Python msgpack as an independent decoder and encoder", () => {
  if (!PYTHON) {
    it("needs python3 with the msgpack module", () => {
      throw new Error(
        "CI is set but no python3 with the msgpack module was found (tried REGENT_TEST_PYTHON, else /usr/bin/python3 then python3): " +
          "install Debian/Ubuntu python3-msgpack (or `pip install msgpack`). This test is the cross-language check of docs/wire.md and must not be skipped in CI.",
      );
    });
    return;
  }
  const python = PYTHON;
  let dir = "";
  let script = "";

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "regent-wire-"));
    script = join(dir, "regent_wire.py");
    writeFileSync(script, PY_SCRIPT);
    for (const [name, [, bytes]] of Object.entries(samples)) writeFileSync(join(dir, `${name}.msgpack`), bytes);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("decodes every event kind and lease record to the original values, with no extension types", () => {
    const out = JSON.parse(runPython(python, script, ["decode", ...Object.keys(samples).map((n) => join(dir, `${n}.msgpack`))])) as Record<
      string,
      { value: unknown; types: Record<string, string> }
    >;
    expect(Object.keys(out).sort()).toEqual(Object.keys(samples).sort());
    for (const [name, [original]] of Object.entries(samples)) expect(out[name]?.value, name).toEqual(original);

    // Small integers are msgpack ints, not floats; booleans are booleans; nil is None.
    const types = (name: string) => out[name]!.types;
    for (const f of ["v", "token", "leaseMs", "previous.token"]) expect(types("elected")[f], `elected.${f}`).toBe("int");
    expect(types("elected")["previous"]).toBe("dict");
    expect(types("granted")["from.token"]).toBe("int");
    expect(types("state")["regions.eu-west.revision"]).toBe("int");
    expect(types("state")["regions.us-east.token"]).toBe("NoneType");
    for (const f of ["v", "token", "leaseMs", "renewMs"]) expect(types("record-acquiring")[f], `record.${f}`).toBe("int");
    expect(types("record-acquiring")["released"]).toBe("bool");
    expect(types("record-acquiring")["meta"]).toBe("dict");
    // Wall-clock ms (>= 2^32) are written as 64-bit integers too (src/wire/msgpack.ts), not float64.
    for (const [name, f] of [["elected", "at"], ["state", "at"], ["record-acquiring", "acquiredAt"], ["record-released", "renewedAt"]] as const) {
      expect(types(name)[f], `${name}.${f}`).toBe("int");
    }
  });

  describe("an elected event packed by Python (msgpack.packb(dict))", () => {
    const fromPython = { ...elected, token: 70_000, previous: { node: "eu-west-1", token: 69_990 }, extra: "ignored by consumers" };
    let intAt: Uint8Array;
    let floatAt: Uint8Array;

    beforeAll(() => {
      const out = join(dir, "from-python.msgpack");
      runPython(python, script, ["pack", JSON.stringify(fromPython), out]);
      intAt = readFileSync(out);
      floatAt = readFileSync(`${out}.float-at`);
    });

    it("decodes with decodeEvent", () => {
      const e = decodeEvent(intAt);
      expect(e.kind).toBe("elected");
      const { at, ...rest } = e as LeaderEvent & { extra: string };
      const { at: expectedAt, ...expectedRest } = fromPython;
      expect(rest).toEqual(expectedRest);
      expect(Number(at)).toBe(expectedAt);
    });

    it("decodes to exactly the original when `at` is packed as a float (as older producers may send it)", () => {
      expect(decodeEvent(floatAt)).toEqual(fromPython);
    });

    // src/wire/msgpack.ts reads 64-bit integers as numbers when they fit in 2^53.
    it("gives `at` as a JS number when Python packs it as a 64-bit int", () => {
      expect(typeof (decodeEvent(intAt) as LeaderEvent).at).toBe("number");
    });
  });
});
