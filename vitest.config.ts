import { defineConfig } from "vitest/config";

// Tests that start real nats-server clusters and node processes are timing
// sensitive on a 2-core machine: they run one file at a time in their own
// project, so one test's supercluster does not starve another's stream-leader
// election. Pure unit tests run in parallel beside them.
const serial = [
  "test/integration/**/*.test.ts",
  "test/drills/drills.test.ts",
  "test/cli/**/*.test.ts",
  "test/launcher/**/*.test.ts",
  "test/bench/**/*.test.ts",
  "test/lease/nats-store*.test.ts",
  "test/hierarchy/events-stream.test.ts",
  "test/hierarchy/deployment-nats.test.ts",
  "test/observability/health-nats.test.ts",
  "test/dashboard/browser.test.ts",
  "test/package/**/*.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 60000,
    hookTimeout: 120000,
    pool: "forks",
    projects: [
      { extends: true, test: { name: "unit", include: ["test/**/*.test.ts"], exclude: serial } },
      { extends: true, test: { name: "real-processes", include: serial, fileParallelism: false } },
    ],
  },
});
