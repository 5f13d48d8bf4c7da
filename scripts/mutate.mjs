// `npm run mutate` mutates the core modules listed in stryker.config.mjs;
// `npm run mutate -- <file>...` only the files given, against the tests vitest finds related;
// `--tests=<glob>,<glob>` runs only those tests (faster; see vitest.mutate.config.ts).
// Other arguments go to `stryker run`.
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const args = process.argv.slice(2)
const files = args.filter((arg) => !arg.startsWith("-"))
const tests = args.find((arg) => arg.startsWith("--tests="))?.slice("--tests=".length)
const flags = args.filter((arg) => arg.startsWith("-") && !arg.startsWith("--tests="))
const stryker = fileURLToPath(new URL("../node_modules/@stryker-mutator/core/bin/stryker.js", import.meta.url))
const result = spawnSync(
  process.execPath,
  [stryker, "run", "stryker.config.mjs", ...(files.length > 0 ? ["--mutate", files.join(",")] : []), ...flags],
  { stdio: "inherit", env: tests === undefined ? process.env : { ...process.env, MUTATE_TESTS: tests } }
)
process.exit(result.status ?? 1)
