import { defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"

export default defineConfig({
  // Tests and README snippets import "effect-http-tasks" as users do; resolve it to src/.
  ssr: { resolve: { conditions: ["@effect-http-tasks/source", ...defaultServerConditions] } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
