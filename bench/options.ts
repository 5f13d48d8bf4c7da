/**
 * The command line of the benchmark suite, shared by every case.
 *
 *   --quick        the same cases, smaller and within tighter time budgets
 *   --verbose      every pair's ratio, and when each row was reported
 *   --only=a,b     run some cases (cloud, cold, local, delivery, server, capacity);
 *                  bench/results.json is then left as the last whole run wrote it
 */
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export const quick = process.argv.includes("--quick")
export const verbose = process.argv.includes("--verbose")
export const only = process.argv.find((arg) => arg.startsWith("--only="))?.slice("--only=".length).split(",")

/** `full` in a full run, `small` in a quick one. */
export const size = <A>(full: A, small: A): A => (quick ? small : full)

/** bench/ */
export const here = dirname(fileURLToPath(import.meta.url))
/** The repository: child processes run here, so that "effect-http-tasks" resolves to dist/. */
export const root = join(here, "..")
