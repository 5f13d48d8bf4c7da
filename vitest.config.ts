import { defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"

export default defineConfig({
  // Tests and README snippets import "effect-http-tasks" as users do; resolve it to src/.
  ssr: { resolve: { conditions: ["@effect-http-tasks/source", ...defaultServerConditions] } },
  test: {
    // Logs of passing tests are noise in CI; a failing test still shows its own.
    silent: "passed-only",
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      // Every test; the emulator's suite with the official client over gRPC.
      { extends: true, test: { name: "all", include: ["test/**/*.test.ts"], provide: { clientMode: "grpc" } } },
      // The emulator's suites again, the official client in REST mode (fallback: true).
      // (rest, firebase and dashboard do not depend on the client's mode: they run once.)
      {
        extends: true,
        test: {
          name: "emulator-rest",
          include: ["test/emulator/**/*.test.ts", "test/CloudTasksEmulator.test.ts"],
          exclude: ["test/emulator/{rest,firebase,dashboard}.test.ts"],
          provide: { clientMode: "rest" }
        }
      }
    ]
  }
})
