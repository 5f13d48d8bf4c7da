/**
 * `npm run stress:readme`: puts the figures of the latest `npm run stress` (stress/results.json)
 * into the README's Reliability section, between its two `stress:table` markers.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { README_END, README_START, readmeSection, type StressResults } from "./table.js"

const root = join(import.meta.dirname, "..", "..")
const results = JSON.parse(readFileSync(join(root, "stress", "results.json"), "utf8")) as StressResults
const path = join(root, "README.md")
const readme = readFileSync(path, "utf8")
const from = readme.indexOf(README_START)
const to = readme.indexOf(README_END)
if (from === -1 || to < from) {
  console.error(`README.md has no ${README_START} … ${README_END} section`)
  process.exit(1)
}
writeFileSync(path, readme.slice(0, from) + readmeSection(results) + readme.slice(to + README_END.length))
console.log("README.md: Reliability figures updated")
