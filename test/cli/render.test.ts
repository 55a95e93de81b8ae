/**
 * `regent status` / `regent up` tables: columns fit their content, so long
 * region names (`ap-southeast-2`, 14 characters) and node ids stay aligned.
 */
import { describe, expect, it } from "vitest";
import { renderState } from "../../src/cli/observe-cmds.js";
import { WIRE_VERSION, type LeaseRow, type StateSnapshot } from "../../src/wire/events.js";

const held = (node: string, region: string, token: number): LeaseRow => ({ state: "held", node, region, token, revision: token, ageMs: 120 });

function snapshot(regions: string[]): StateSnapshot {
  return {
    v: WIRE_VERSION,
    kind: "state",
    cluster: "demo",
    answeredBy: `${regions[0]}-1`,
    at: 0,
    global: held(`${regions[0]}-1`, regions[0]!, 3),
    regions: Object.fromEntries(regions.map((r, i) => [r, held(`${r}-1`, r, i + 1)])),
    scopes: Object.fromEntries(
      regions.map((r, i) => [r, { ...held(`${regions[(i + 1) % regions.length]}-1`, regions[(i + 1) % regions.length]!, 10 + i), home: r, pinned: i === 0 ? "manual" : null }]),
    ),
  };
}

describe("renderState", () => {
  const regions = ["ap-southeast-2", "eu-west", "us-east"];
  const out = renderState(snapshot(regions)).split("\n");
  const roles = out.slice(out.findIndex((l) => l.startsWith("ROLE")), out.indexOf("", 2));
  const scopes = out.slice(out.findIndex((l) => l.startsWith("SCOPE")));

  it("keeps every row's HOLDER cell under its header with a 14-character region name", () => {
    expect(roles).toHaveLength(1 + 1 + regions.length);
    const at = roles[0]!.indexOf("HOLDER");
    for (const line of roles.slice(1)) expect(line.slice(at - 2, at), line).toBe("  ");
    for (const line of roles.slice(1)) expect(line[at], line).toMatch(/\S/);
    expect(roles.some((l) => /^region ap-southeast-2 {2,}ap-southeast-2-1 \(token 1, 120 ms ago\)$/.test(l)), roles.join("\n")).toBe(true);
  });

  it("aligns the scope table's columns (HOME, HOLDER REGION, HOLDER) for long names", () => {
    expect(scopes).toHaveLength(1 + regions.length);
    for (const header of ["HOME", "HOLDER REGION", "HOLDER"]) {
      const headerAt = header === "HOLDER" ? scopes[0]!.lastIndexOf("HOLDER") : scopes[0]!.indexOf(header);
      for (const line of scopes.slice(1)) {
        expect(line.slice(headerAt - 2, headerAt), `${header} in\n${scopes.join("\n")}`).toBe("  ");
        expect(line[headerAt], `${header} in\n${scopes.join("\n")}`).toMatch(/\S/);
      }
    }
    expect(scopes[1]).toMatch(/pinned: manual$/);
  });

  it("has no trailing spaces", () => {
    for (const line of out) expect(line).toBe(line.trimEnd());
  });
});

describe("renderState of quorum rows", () => {
  it("shows how many quorum stores agree when not all do, and how many answered when too few did", () => {
    const s = snapshot(["a", "b", "c"]);
    s.global = { ...s.global, quorum: { stores: 3, answered: 2, agree: 2 } };
    s.scopes.a = { ...s.scopes.a!, state: "unreachable", node: null, region: null, token: null, ageMs: null, quorum: { stores: 3, answered: 1, agree: 0 } };
    s.scopes.b = { ...s.scopes.b!, quorum: { stores: 3, answered: 3, agree: 3 } };
    const out = renderState(s);
    expect(out).toMatch(/^global +a-1 \(token 3, 120 ms ago, 2\/3 stores\)$/m);
    expect(out).toMatch(/^a +a +- +unreachable \(1\/3 stores answered\)/m);
    expect(out).toMatch(/^b +b +c +c-1 \(token 11, 120 ms ago\)$/m);
  });
});
