import { defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"

export default defineConfig({
  // Tests and README snippets import "effect-http-tasks" as users do; resolve it to src/.
  ssr: { resolve: { conditions: ["@effect-http-tasks/source", ...defaultServerConditions] } },
  test: {
    include: ["test/**/*.test.ts"],
    // Logs of passing tests are noise in CI; a failing test still shows its own.
    silent: "passed-only",
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
