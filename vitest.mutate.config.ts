import { defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"

// The suite StrykerJS runs against each mutant (`npm run mutate`, stryker.config.mjs): the tests
// of the core modules, once, with the official client over gRPC. Left out: the emulator's REST
// re-run, the browser test, the reliability suite and the examples/README checks (they spawn
// processes or run for minutes and test no core module's decisions more closely).
// `MUTATE_TESTS` (set by `npm run mutate -- <files> --tests=<globs>`) narrows it to the tests named:
// Stryker's own `--testFiles` leaves static mutants (module-level constants) unactivated, so each
// of them would falsely survive.
export default defineConfig({
  ssr: { resolve: { conditions: ["@effect-http-tasks/source", ...defaultServerConditions] } },
  test: {
    silent: "passed-only",
    testTimeout: 30_000,
    hookTimeout: 30_000,
    include: process.env.MUTATE_TESTS ? process.env.MUTATE_TESTS.split(",") : ["test/**/*.test.ts"],
    exclude: [
      "test/emulator/dashboard.test.ts",
      "test/reliability/**",
      "test/examples/**",
      "test/readme.test.ts",
      "test/guard.test.ts"
    ],
    provide: { clientMode: "grpc" }
  }
})
