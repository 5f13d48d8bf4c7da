/**
 * The benchmark suite: each case measures ours against the baseline a user would
 * otherwise pick, in the same run, as the median of per-pair ratios (bench/harness.ts).
 *
 *   npm run bench              full sizes
 *   npm run bench -- --quick   the same cases, smaller (under 90 s on 2 cores)
 *
 * Prints each row as it is measured, then the table, and writes bench/results.json.
 * Exits 1 when a row misses its target (rows that only report never do).
 *
 * Each case runs in a process of its own, as an application runs one route: V8 decides per
 * allocation site, for the whole process, whether to allocate its objects straight into the
 * old generation ("pretenuring"), and the fibers of one case trained effect's sites for the
 * next: after 2,000 enqueues through the Cloud Tasks route 76 sites were pretenured (7
 * without them), the in-process queue's young objects were kept alive by the objects of those
 * sites until the next full collection, and B5 after the Cloud Tasks cases was 0.48 (0.61 alone).
 */
import { fork } from "node:child_process"
import { writeFileSync } from "node:fs"
import { loadavg } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { capacityCase } from "./cases/capacity.js"
import { cloudCases } from "./cases/cloud.js"
import { coldCases } from "./cases/cold.js"
import { deliveryCase } from "./cases/delivery.js"
import { localCases } from "./cases/local.js"
import { serverCase } from "./cases/server.js"
import { meets, type Row, time } from "./harness.js"
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

/** `--case=<name>`: this process is the child that runs one case and sends its rows to the parent. */
const child = process.argv.find((arg) => arg.startsWith("--case="))?.slice("--case=".length) as keyof typeof cases | undefined

/** Runs the case `name` in a child process (this script, with the same flags): its rows. */
const inChild = (name: string) =>
  new Promise<ReadonlyArray<Row>>((resolve, reject) => {
    const proc = fork(fileURLToPath(import.meta.url), [...process.argv.slice(2), `--case=${name}`], {
      execArgv: process.execArgv,
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    let sent: ReadonlyArray<Row> | undefined
    proc.once("message", (message) => {
      sent = message as ReadonlyArray<Row>
    })
    proc.once("error", reject)
    proc.once("exit", (code) =>
      code === 0 && sent !== undefined ? resolve(sent) : reject(new Error(`the ${name} case exited with ${code}`))
    )
  })

/** The 1, 5 and 15 minute load averages, as `uptime` prints them. */
const load = () => loadavg().map((l) => l.toFixed(2)).join(", ")

const main = async () => {
  const loadBefore = load()
  console.log(`effect-http-tasks benchmarks (${quick ? "quick" : "full"}), node ${process.version}, load ${loadBefore}`)
  const seconds = await time(async () => {
    for (const name of Object.keys(cases)) {
      if (only !== undefined && !only.includes(name)) continue
      const ms = await time(async () => rows.push(...await inChild(name)))
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

if (child === undefined) await main()
else {
  await cases[child]()
  process.send!(rows)
  process.disconnect()
}
