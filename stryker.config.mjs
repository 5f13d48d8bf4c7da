// Mutation testing of the core modules (issue 15): `npm run mutate` mutates every module below,
// `npm run mutate -- src/internal/routing.ts` only the files given (scripts/mutate.mjs).
// Not part of CI: one full run takes tens of minutes on a 2-core machine.
/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.mutate.config.ts", related: true },
  // Each mutant runs only the tests that executed its code in the dry run.
  coverageAnalysis: "perTest",
  // Two test runners: the machine has 2 cores, shared.
  concurrency: 2,
  // Type errors in a mutant are not test failures: the type checker is not run here.
  checkers: [],
  timeoutMS: 20_000,
  timeoutFactor: 2,
  mutate: [
    "src/internal/routing.ts",
    "src/internal/request.ts",
    "src/internal/encode.ts",
    "src/internal/limits.ts",
    "src/internal/payloadIssues.ts",
    "src/TasksConfig.ts",
    "src/TaskServerConfig.ts",
    "src/internal/env.ts",
    "src/internal/server/auth.ts",
    "src/internal/server/router.ts",
    "src/internal/span.ts",
    "src/internal/server/oidc.ts",
    "src/internal/engine/backoff.ts",
    "src/internal/engine/tokenBucket.ts",
    "src/internal/supervisor.ts",
    "src/internal/localQueue.ts"
  ],
  ignorePatterns: ["dist", "test-artifacts", "stress", "bench/results.json.tmp", "reports"],
  reporters: ["clear-text", "progress", "html", "json"],
  clearTextReporter: { reportTests: false, reportMutants: true, reportScoreTable: true },
  htmlReporter: { fileName: "reports/mutation/index.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always"
}
