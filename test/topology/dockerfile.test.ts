/**
 * The Dockerfile, checked offline (no Docker engine here): parsed into
 * instructions, then held to what the compose demo relies on: a build stage
 * and a slim runtime stage on a supported Node, dependencies installed inside
 * the image (never the host's node_modules), a non-root user, and a build
 * context (.dockerignore) that admits what the Dockerfile copies and nothing
 * secret. When the `dockerfile-utils` linter is installed (a devDependency),
 * its diagnostics must be empty too; CI requires it once package.json
 * declares it.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { IMAGE_UID } from "../../src/topology/compose.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TEXT = readFileSync(join(ROOT, "Dockerfile"), "utf8");
const KNOWN = new Set(["FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"]);

interface Instruction {
  line: number;
  op: string;
  args: string;
}

/** Instructions of a Dockerfile: comments and blank lines dropped, `\` continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { line: number; text: string } | null = null;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trimEnd();
    if (/^\s*#/.test(line) || (!pending && line.trim() === "")) return;
    const cont = line.endsWith("\\");
    const part = cont ? line.slice(0, -1) : line;
    pending = pending ? { line: pending.line, text: `${pending.text} ${part.trim()}` } : { line: i + 1, text: part.trim() };
    if (cont) return;
    const m = /^(\S+)\s+(.*)$/.exec(pending.text);
    if (!m) throw new Error(`Dockerfile:${pending.line}: instruction without arguments: ${pending.text}`);
    out.push({ line: pending.line, op: m[1]!, args: m[2]! });
    pending = null;
  });
  if (pending) throw new Error("Dockerfile ends inside a line continuation");
  return out;
}

/** Stages: FROM's image and name, with their instructions. */
function stages(ins: Instruction[]): { image: string; name: string | undefined; body: Instruction[] }[] {
  const out: { image: string; name: string | undefined; body: Instruction[] }[] = [];
  for (const i of ins) {
    if (i.op === "FROM") {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
      if (!m) throw new Error(`Dockerfile:${i.line}: cannot read FROM ${i.args}`);
      out.push({ image: m[1]!, name: m[2], body: [] });
    } else if (out.length === 0) {
      if (i.op !== "ARG") throw new Error(`Dockerfile:${i.line}: ${i.op} before the first FROM`);
    } else out[out.length - 1]!.body.push(i);
  }
  return out;
}

/** Whether `.dockerignore` (an allow-list: `*` then `!path` lines) sends `path` to the builder. */
function admitted(path: string): boolean {
  const rules = readFileSync(join(ROOT, ".dockerignore"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  let ok = true;
  for (const r of rules) {
    const neg = r.startsWith("!");
    const pat = (neg ? r.slice(1) : r).replace(/\/$/, "");
    if (pat === "*" || path === pat || path.startsWith(`${pat}/`)) ok = neg;
  }
  return ok;
}

const ins = parseDockerfile(TEXT);
const st = stages(ins);

describe("Dockerfile", () => {
  it("parses into known instructions, in upper case", () => {
    expect(ins.length).toBeGreaterThan(10);
    for (const i of ins) expect(KNOWN.has(i.op), `line ${i.line}: ${i.op}`).toBe(true);
    for (const i of ins.filter((x) => ["CMD", "ENTRYPOINT"].includes(x.op))) expect(() => JSON.parse(i.args), `line ${i.line}: exec form`).not.toThrow();
    // The parser is not vacuous.
    expect(() => parseDockerfile("FROM x\nRUN a \\")).toThrow(/continuation/);
    expect(() => stages(parseDockerfile("RUN x\nFROM y\n"))).toThrow(/before the first FROM/);
  });

  it("has a build stage and a slim runtime stage on a supported Node (20, 22 or 24), pinned by tag", () => {
    expect(st.map((s) => s.name)).toEqual(["build", "runtime"]);
    for (const s of st) expect(s.image).toMatch(/^node:(20|22|24)-(bookworm|trixie)-slim$/);
    const run = st[0]!.body.filter((i) => i.op === "RUN").map((i) => i.args);
    expect(run.some((r) => /\bnpm ci\b/.test(r)), "dependencies are installed in the image").toBe(true);
    expect(run.some((r) => /npm prune --omit=dev/.test(r)), "dev dependencies do not reach the runtime").toBe(true);
    // The runtime stage installs nothing itself: it copies the build stage's result.
    expect(st[1]!.body.filter((i) => i.op === "RUN")).toEqual([]);
  });

  it("the runtime stage runs as a non-root user, with the regent CLI as its entrypoint", () => {
    const runtime = st[1]!.body;
    const users = runtime.filter((i) => i.op === "USER").map((i) => i.args);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    // The official node images' `node` user: the uid docker-compose.yml and `regent compose` assume.
    expect(users.at(-1)).toBe("node");
    expect(IMAGE_UID).toBe(1000);
    expect(JSON.parse(runtime.find((i) => i.op === "ENTRYPOINT")!.args)).toEqual(["node", "/app/bin/regent.js"]);
  });

  it("every COPY source exists: an earlier stage's path or a file admitted by .dockerignore; secrets and node_modules are not", () => {
    const names = new Set<string>();
    for (const s of st) {
      for (const i of s.body.filter((x) => x.op === "COPY" || x.op === "ADD")) {
        const words = i.args.split(/\s+/);
        const from = words.find((w) => w.startsWith("--from="))?.slice(7);
        const paths = words.filter((w) => !w.startsWith("--"));
        expect(paths.length, `line ${i.line}`).toBeGreaterThanOrEqual(2);
        if (from) {
          expect(names.has(from), `line ${i.line}: stage ${from} is not earlier`).toBe(true);
          continue;
        }
        for (const src of paths.slice(0, -1)) {
          expect(existsSync(join(ROOT, src)), `line ${i.line}: ${src} missing`).toBe(true);
          expect(admitted(src), `line ${i.line}: ${src} is excluded by .dockerignore`).toBe(true);
        }
      }
      if (s.name) names.add(s.name);
    }
    for (const p of ["deploy/secrets/clients/operator.nk", "deploy/secrets/ca/ca-key.pem", "node_modules/prom-client/index.js", ".git/config", "dist/index.js"]) expect(admitted(p), p).toBe(false);
  });

  it("passes the dockerfile-utils linter when it is installed", async (ctx) => {
    const require = createRequire(import.meta.url);
    let lint: { validate: (text: string) => { message: string; range: { start: { line: number } } }[] };
    try {
      lint = require("dockerfile-utils") as typeof lint;
    } catch {
      const declared = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).devDependencies?.["dockerfile-utils"];
      if (process.env.CI && declared) throw new Error("dockerfile-utils is declared but not installed (npm ci)");
      return ctx.skip();
    }
    const problems = lint.validate(TEXT).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    expect(problems).toEqual([]);
  });
});
