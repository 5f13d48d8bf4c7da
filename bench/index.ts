/**
 * The benchmark suite: each case measures ours against the baseline a user would
 * otherwise pick, in the same run, as the median of per-pair ratios (bench/harness.ts).
 *
 *   npm run bench              full sizes
 *   npm run bench -- --quick   the same cases, smaller (under 90 s on 2 cores)
 *
 * Prints each row as it is measured, then the table, and writes bench/results.json.
 * Exits 1 when a row misses its target (rows that only report never do).
 */
import { writeFileSync } from "node:fs"
import { loadavg } from "node:os"
import { join } from "node:path"
import { capacityCase } from "./cases/capacity.js"
import { cloudCases } from "./cases/cloud.js"
import { coldCases } from "./cases/cold.js"
import { deliveryCase } from "./cases/delivery.js"
import { localCases } from "./cases/local.js"
import { serverCase } from "./cases/server.js"
import { meets, time } from "./harness.js"
import { here, only, quick, verbose } from "./options.js"
import { rows } from "./report.js"
import { markdownTable, type Results } from "./table.js"

const cases = {
  cloud: cloudCases,
  cold: coldCases,
  local: localCases,
  delivery: deliveryCase,
  server: serverCase,
  capacity: capacityCase
}

/** The 1, 5 and 15 minute load averages, as `uptime` prints them. */
const load = () => loadavg().map((l) => l.toFixed(2)).join(", ")

const main = async () => {
  const loadBefore = load()
  console.log(`effect-http-tasks benchmarks (${quick ? "quick" : "full"}), node ${process.version}, load ${loadBefore}`)
  const seconds = await time(async () => {
    for (const [name, run] of Object.entries(cases)) {
      if (only !== undefined && !only.includes(name)) continue
      const ms = await time(run)
      if (verbose) console.log(`  ${name}: ${(ms / 1000).toFixed(1)} s`)
    }
  }) / 1000
  const results: Results = {
    mode: quick ? "quick" : "full",
    date: new Date().toISOString(),
    node: process.version,
    seconds: Math.round(seconds),
    load: { before: loadBefore, after: load() },
    rows
  }
  console.log(`\n${markdownTable(results)}`)
  console.log(`\n${results.seconds} s, load ${results.load.before} before, ${results.load.after} after`)
  // A partial run (--only) must not replace the results of a whole one.
  if (only === undefined) writeFileSync(join(here, "results.json"), JSON.stringify(results, null, 2) + "\n")
  const missed = rows.filter((r) => !meets(r))
  if (missed.length > 0) {
    console.log(`missed: ${missed.map((r) => r.id).join(", ")}`)
    process.exitCode = 1
  }
}

await main()
