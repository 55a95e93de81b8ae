/**
 * Import rules for src/, checked by test/structure/imports.test.ts (part of
 * `npm test`); `npx depcruise src --config .dependency-cruiser.cjs` prints the
 * same report.
 *
 * src/ is a stack of rooms. A room may import rooms below it, never above:
 * the library (what `regent` exports) must not pull in process launchers,
 * drills or simulators, and a room that imports one above it is half of a
 * cycle. Bottom to top:
 */
const LAYERS = [
  // the foundation: errors.ts, timers and clocks, NATS connection and auth, the wire format and its requests
  ["errors.ts", "util", "wire"],
  // logger, stall and suspend detection, health, the split-brain oracle
  ["observability"],
  ["lease"],
  ["election"],
  ["scopes"],
  // nodes: elections, scopes, the bus and their metrics
  ["hierarchy"],
  // tooling from here up
  ["sim"],
  ["topology"],
  ["launcher"],
  ["dashboard"],
  ["drills"],
  ["cli"],
  // the package's entry points (index.ts: `regent`, wiring.ts: `regent/wiring`, testing.ts: `regent/testing`) sit on top
];

const LIBRARY = ["util", "wire", "lease", "election", "scopes", "hierarchy"];
const TOOLING = ["cli", "launcher", "drills", "sim", "topology"];

/** A path pattern for src/<room> (a folder, or a file such as errors.ts). */
const room = (r) => (r.endsWith(".ts") ? `^src/${r.replace(".", "\\.")}$` : `^src/${r}/`);
const any = (rooms) => rooms.map(room).join("|");

const layerRules = LAYERS.slice(0, -1).map((rooms, i) => ({
  name: `layer-${rooms.join("+")}`,
  comment: `${rooms.join(", ")} must not import a room above it (${LAYERS.slice(i + 1).flat().join(", ")}, or the entry points)`,
  severity: "error",
  from: { path: any(rooms) },
  to: { path: `${any(LAYERS.slice(i + 1).flat())}|^src/(index|wiring|testing)\\.ts$` },
}));

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "no import cycles in src/: move the shared piece into the lower module",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "library-imports-tooling",
      comment: `library rooms (${LIBRARY.join(", ")}) never import tooling rooms (${TOOLING.join(", ")})`,
      severity: "error",
      from: { path: any(LIBRARY) },
      to: { path: any(TOOLING) },
    },
    ...layerRules,
    {
      name: "src-imports-tests",
      comment: "nothing in src/ imports test/ or bench/",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(test|bench)/" },
    },
    {
      name: "production-imports-test-double",
      comment:
        "MemoryLeaseStore is a test double: only the simulation (src/sim/) and the entry point that offers it to users' tests (testing.ts) import it; shared key validators live in lease/keys.ts",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/sim/|^src/testing\\.ts$" },
      to: { path: "^src/lease/memory-store\\.ts$" },
    },
    {
      name: "not-to-unresolvable",
      comment: "an import the cruiser cannot resolve would escape every rule above",
      severity: "error",
      from: { path: "^src/" },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // type-only imports count: a type import upward still ties the rooms together
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    // @nats-io/* publish only an `exports` map
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
  },
};
