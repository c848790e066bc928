import { defineConfig } from "vitest/config";

// Two tiers: "fast" (pure logic, fixtures, no root or network) and "system" (real Debian tools,
// root, the archive mirror, minutes). `npm test` runs both; `npm run test:fast` runs only the first.
const systemTests = ["packages/*/src/**/*.system.test.ts", "test/**/*.system.test.ts"];

export default defineConfig({
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    // every hub a test starts checks each answer against the API contract (a mismatch is a 500)
    env: { DEB_ORCHESTRATOR_CHECK_RESPONSES: "1" },
    projects: [
      {
        extends: true,
        test: {
          name: "fast",
          include: ["packages/*/src/**/*.test.ts", "test/**/*.test.ts"],
          exclude: [...systemTests, "**/node_modules/**"],
          // hub tests start real servers on two databases; limits a loaded two-core machine can meet
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: "system",
          include: systemTests,
          testTimeout: 20 * 60_000,
          hookTimeout: 20 * 60_000,
          // system tests share caches, mounts and the CPU: one file at a time keeps them honest
          fileParallelism: false,
        },
      },
    ],
  },
});
