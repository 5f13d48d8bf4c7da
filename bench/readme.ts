/**
 * `npm run bench:readme`: puts the table of the latest full run (bench/results.json)
 * into the README's Performance section, between its two `bench:table` markers, with
 * the line that says when and how loaded. Refuses a quick run's results: the README
 * shows full runs only.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { root } from "./options.js"
import { markdownTable, type Results } from "./table.js"

const results = JSON.parse(readFileSync(join(root, "bench", "results.json"), "utf8")) as Results
if (results.mode !== "full") {
  console.error("bench/results.json holds a --quick run: run `npm run bench` (full) first")
  process.exit(1)
}
const readmePath = join(root, "README.md")
const readme = readFileSync(readmePath, "utf8")
const start = "<!-- bench:table -->"
const end = "<!-- /bench:table -->"
const from = readme.indexOf(start)
const to = readme.indexOf(end)
if (from === -1 || to < from) {
  console.error(`README.md has no ${start} … ${end} section`)
  process.exit(1)
}
const section = [
  start,
  `Full run of ${results.date.slice(0, 10)}, node ${results.node}, ${results.seconds} s, load average ${results.load.before} ` +
  `before and ${results.load.after} after (1, 5 and 15 min):`,
  "",
  markdownTable(results),
  end
].join("\n")
writeFileSync(readmePath, readme.slice(0, from) + section + readme.slice(to + end.length))
console.log("README.md: Performance table updated")
