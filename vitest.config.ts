import { defineConfig } from "vitest/config";

// Integration tests spawn real nats-server processes and kill them, so each
// test file runs in its own forked process (a crash or leaked handle stays
// contained) and timeouts leave room for server start-up and lease expiry.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60000,
    hookTimeout: 60000,
    pool: "forks",
    fileParallelism: true,
  },
});
