/**
 * `npm run stress`: the reliability suite at full sizes (STRESS=1, set by the npm script).
 * Runs `vitest run test/reliability`, each part recording its figures in
 * stress/results.json (see report.ts), then prints them as one table with the run's wall
 * time, Node.js version, cores and load average, and exits with vitest's code.
 */
import { spawnSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { join } from "node:path"

const root = join(import.meta.dirname, "..", "..")
const file = join(root, "stress", "results.json")
const load = () => loadavg().map((n) => n.toFixed(2)).join(", ")

if (process.env.STRESS !== "1") {
  console.error("Run through `npm run stress` (it sets STRESS=1).")
  process.exit(2)
}
const loadBefore = load()
const started = Date.now()
// A fresh file: each part adds its figures to it.
writeFileSync(file, "{}\n")
const vitest = spawnSync("npx", ["vitest", "run", "--project", "all", "test/reliability"], { cwd: root, stdio: "inherit" })
const seconds = Math.round((Date.now() - started) / 1000)
const parts = JSON.parse(readFileSync(file, "utf8")) as Record<string, Record<string, string | number>>
const run = {
  date: new Date().toISOString(),
  node: process.version,
  cores: cpus().length,
  "wall time (s)": seconds,
  "load before": loadBefore,
  "load after": load(),
  passed: vitest.status === 0 ? "yes" : "no"
}
writeFileSync(file, JSON.stringify({ run, ...parts }, null, 2) + "\n")

const rows: Array<[string, string, string]> = []
for (const [part, figures] of Object.entries({ run, ...parts })) {
  for (const [key, value] of Object.entries(figures)) {
    if (key !== "at") rows.push([part, key, typeof value === "number" ? value.toLocaleString("en-US") : String(value)])
  }
}
const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]!.length)))
const line = (row: ReadonlyArray<string>) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ")
console.log(`\nnpm run stress: ${Object.keys(parts).length} part(s) in ${seconds} s\n`)
let previous = ""
for (const row of rows) {
  console.log(line([row[0] === previous ? "" : row[0], row[1], row[2]]))
  previous = row[0]
}
process.exit(vitest.status ?? 1)
