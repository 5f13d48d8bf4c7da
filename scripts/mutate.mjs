// `npm run mutate` mutates the core modules listed in stryker.config.mjs;
// `npm run mutate -- <file>...` only the files given. Other arguments go to `stryker run`.
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const args = process.argv.slice(2)
const files = args.filter((arg) => !arg.startsWith("-"))
const flags = args.filter((arg) => arg.startsWith("-"))
const stryker = fileURLToPath(new URL("../node_modules/@stryker-mutator/core/bin/stryker.js", import.meta.url))
const result = spawnSync(
  process.execPath,
  [stryker, "run", "stryker.config.mjs", ...(files.length > 0 ? ["--mutate", files.join(",")] : []), ...flags],
  { stdio: "inherit" }
)
process.exit(result.status ?? 1)
