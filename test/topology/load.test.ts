import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, ErrorCode } from "../../src/errors.js";
import { candidateIds, findRegion, loadTopology, topologyFromObject, TopologyError } from "../../src/topology/load.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A temp copy of the shipped regions/, with `edits` applied: file name → new content (object, raw string, or null to delete). */
function regionsWith(edits: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "regent-topology-"));
  dirs.push(dir);
  for (const f of readdirSync("regions")) writeFileSync(join(dir, f), readFileSync(join("regions", f)));
  for (const [f, content] of Object.entries(edits)) {
    if (content === null) rmSync(join(dir, f));
    else writeFileSync(join(dir, f), typeof content === "string" ? content : JSON.stringify(content));
  }
  return dir;
}

function shipped(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join("regions", file), "utf8")) as Record<string, unknown>;
}

/** Runs `fn`, expects a TopologyError, and returns it. */
function topologyError(fn: () => unknown): TopologyError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TopologyError);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as TopologyError).code).toBe(ErrorCode.InvalidConfig);
    return err as TopologyError;
  }
  throw new Error("expected a TopologyError");
}

describe("loadTopology: the shipped regions/", () => {
  it("loads, sorted by region name, with defaults applied", () => {
    const t = loadTopology();
    expect(t.cluster).toBe("demo");
    expect(t.regions.map((r) => r.name)).toEqual(["ap-south", "eu-west", "us-east"]);
    expect(t.global).toEqual({ leaseMs: 3000, renewMs: 1000, maxDrift: 0.01 });
    expect(t.scopes).toEqual({ leaseMs: 3000, renewMs: 1000, failbackAfterMs: 5000 });
    const eu = findRegion(t, "eu-west");
    expect(eu).toMatchObject({ servers: 3, candidates: 2, failover: ["us-east", "ap-south"], leaseMs: 2000, renewMs: 666 });
    expect(eu.candidateIds).toEqual(["eu-west-1", "eu-west-2"]);
    expect(eu.file).toBe(join("regions", "eu-west.json"));
    expect(findRegion(t, "us-east").priorities).toEqual({});
    expect(() => findRegion(t, "mars")).toThrow(/unknown region "mars"/);
    expect(candidateIds("x", 3)).toEqual(["x-1", "x-2", "x-3"]);
  });

  it("keeps explicit renewMs and maxDrift", () => {
    const dir = regionsWith({ "global.json": { ...shipped("global.json"), global: { leaseMs: 3000, renewMs: 900, maxDrift: 0.05 } } });
    expect(loadTopology(dir).global).toEqual({ leaseMs: 3000, renewMs: 900, maxDrift: 0.05 });
  });
});

describe("loadTopology: every error names the file and the field", () => {
  const eu = () => shipped("eu-west.json");

  it("the brief's example: an unknown failover target", () => {
    const dir = regionsWith({ "eu-west.json": { ...eu(), failover: ["us-east", "mars"] } });
    const e = topologyError(() => loadTopology(dir));
    expect(e.message).toBe(`${join(dir, "eu-west.json")}: failover[1]: unknown region "mars" (known: ap-south, eu-west, us-east)`);
    expect(e.file).toBe(join(dir, "eu-west.json"));
    expect(e.path).toBe("failover[1]");
    // Relative directories show up as the user typed them.
    const rel = topologyError(() => topologyFromObject({ "regions/global.json": shipped("global.json"), "regions/eu-west.json": { ...eu(), failover: ["us-east", "mars"] }, "regions/us-east.json": shipped("us-east.json") }));
    expect(rel.message).toMatch(/^regions\/eu-west\.json: failover\[1\]: unknown region "mars"/);
  });

  it("invalid JSON names the file and the parse error", () => {
    const dir = regionsWith({ "us-east.json": '{ "name": "us-east", ' });
    const e = topologyError(() => loadTopology(dir));
    expect(e.message).toMatch(new RegExp(`^${join(dir, "us-east.json")}: \\(file\\): invalid JSON: .+`));
  });

  it("a missing global.json or directory", () => {
    const dir = regionsWith({ "global.json": null });
    expect(topologyError(() => loadTopology(dir)).message).toBe(`${join(dir, "global.json")}: (file): missing`);
    expect(topologyError(() => loadTopology(join(dir, "nope"))).message).toMatch(/nope: \(directory\): cannot read/);
  });

  it.each([
    ["wrong type", { servers: 2 }, "servers", /servers must be 1 or 3/],
    ["not an integer", { candidates: 1.5 }, "candidates", /integer/],
    ["missing field", { leaseMs: undefined }, "leaseMs", /required field is missing/],
    ["unknown field (a typo)", { leaseMS: 2000 }, "leaseMS", /unknown field/],
    ["bad failover entry type", { failover: ["us-east", 7] }, "failover[1]", /must be a string/],
    ["failover to itself", { failover: ["eu-west"] }, "failover[0]", /cannot fail over to itself/],
    ["duplicate failover target", { failover: ["us-east", "us-east"] }, "failover[1]", /duplicate region "us-east"/],
    ["name differs from the file", { name: "eu-central" }, "name", /must equal the file name "eu-west", got "eu-central"/],
    ["name not a subject token", { name: "eu west" }, "name", /NATS subject token/],
    ["priority not an integer", { priorities: { "eu-west-1": "high" } }, 'priorities["eu-west-1"]', /priority must be an integer/],
    ["priority for an unknown candidate", { priorities: { "eu-west-3": 1 } }, 'priorities["eu-west-3"]', /unknown candidate \(candidates are eu-west-1, eu-west-2\)/],
    ["renew too slow for the lease", { renewMs: 1500 }, "renewMs", /at least 2 × renewMs/],
  ])("region file: %s", (_what, patch, path, problem) => {
    const dir = regionsWith({ "eu-west.json": { ...eu(), ...patch } });
    const e = topologyError(() => loadTopology(dir));
    expect(e.file).toBe(join(dir, "eu-west.json"));
    expect(e.path).toBe(path);
    expect(e.message.startsWith(`${join(dir, "eu-west.json")}: ${path}: `)).toBe(true);
    expect(e.message).toMatch(problem);
  });

  it.each([
    ["cluster not a subject token", { cluster: "demo.prod" }, "cluster", /NATS subject token/],
    ["missing tier", { scopes: undefined }, "scopes", /required field is missing/],
    ["nested wrong type", { global: { leaseMs: "3s" } }, "global.leaseMs", /positive integer number of milliseconds/],
    ["nested unknown field", { scopes: { leaseMs: 3000, failbackAfterMs: 1, failback: 2 } }, "scopes.failback", /unknown field/],
    ["drift out of range", { global: { leaseMs: 3000, maxDrift: 0.5 } }, "global.maxDrift", /0\.2/],
    ["renew too slow for the lease", { global: { leaseMs: 3000, renewMs: 2000 } }, "global.renewMs", /at least 2 × renewMs/],
    ["not an object", [], "(file)", /expected object/],
  ])("global.json: %s", (_what, patch, path, problem) => {
    const content = Array.isArray(patch) ? patch : { ...shipped("global.json"), ...patch };
    const dir = regionsWith({ "global.json": content });
    const e = topologyError(() => loadTopology(dir));
    expect(e.file).toBe(join(dir, "global.json"));
    expect(e.path).toBe(path);
    expect(e.message).toMatch(problem);
  });

  it("fewer than 2 regions", () => {
    const dir = regionsWith({ "us-east.json": null, "ap-south.json": null, "eu-west.json": { ...eu(), failover: [] } });
    expect(topologyError(() => loadTopology(dir)).message).toBe(`${dir}: (regions): at least 2 region files are required, found 1 (eu-west.json)`);
  });

  it("a region named global (only reachable through topologyFromObject): reserved, though no NATS cluster bears the name any more", () => {
    const e = topologyError(() =>
      topologyFromObject({ "a/global.json": shipped("global.json"), "a/us-east.json": shipped("us-east.json"), "b/global.json": { ...eu(), name: "global", failover: [] } }),
    );
    expect(e.file).toBe("b/global.json");
    expect(e.path).toBe("name");
    expect(e.message).toMatch(/"global" is reserved \(global\.json is the deployment's file/);
  });

  it("duplicate region names across files (only reachable through topologyFromObject)", () => {
    const e = topologyError(() =>
      topologyFromObject({ "a/global.json": shipped("global.json"), "a/us-east.json": shipped("us-east.json"), "b/us-east.json": shipped("us-east.json") }),
    );
    expect(e.message).toBe('b/us-east.json: name: duplicate region "us-east" (also in a/us-east.json)');
  });
});
