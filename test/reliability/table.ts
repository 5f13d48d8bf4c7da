/**
 * What `npm run stress` writes to stress/results.json, and the markdown the README's
 * Reliability section shows of it (`npm run stress:readme` puts it there; a test checks
 * that the README shows the committed results).
 */

/** The run, then each part's figures (and when it ended, `at`). */
export type StressResults = { readonly run: Readonly<Record<string, string | number>> } & Readonly<
  Record<string, Readonly<Record<string, string | number>>>
>

export const README_START = "<!-- stress:table -->"
export const README_END = "<!-- /stress:table -->"

const value = (v: string | number) => (typeof v === "number" ? v.toLocaleString("en-US") : v)

/** The sum of figure `key` over every part that has it. */
const total = (parts: Readonly<Record<string, Readonly<Record<string, string | number>>>>, key: string) =>
  Object.values(parts).reduce((sum, figures) => sum + (typeof figures[key] === "number" ? figures[key] : 0), 0)

/** The headline: what must be zero, and the emulator's throughput. */
const summary = (parts: Readonly<Record<string, Readonly<Record<string, string | number>>>>): string => {
  const emulator = Object.values(parts).find((figures) => "delivered/s" in figures)
  return `**${value(total(parts, "lost"))} lost, ${value(total(parts, "leaked") + total(parts, "secrets or values echoed"))} leaked, ` +
    `${value(total(parts, "crashes"))} crashes, ${value(total(parts, "5xx answers"))} 5xx for bad input, ` +
    `${value(total(parts, "more than one outcome"))} tasks with more than one outcome.**` +
    (emulator === undefined
      ? ""
      : ` The emulator created ${value(emulator["created/s"]!)} tasks/s and delivered ${value(emulator["delivered/s"]!)} tasks/s ` +
        `(from the first creation until every task had succeeded, retries included) to the failing target.`)
}

/** The section between the README's markers, markers included. */
export const readmeSection = (results: StressResults): string => {
  const { run, ...parts } = results
  const lines = [
    README_START,
    `Full run of ${String(run.date).slice(0, 10)}, node ${run.node}, ${run.cores} cores, ${run["wall time (s)"]} s wall time, ` +
    `load average ${run["load before"]} before and ${run["load after"]} after (1, 5 and 15 min); every part passed: ${run.passed}.`,
    "",
    summary(parts),
    "",
    "| part | figure | value |",
    "|---|---|---|"
  ]
  for (const [part, figures] of Object.entries(parts)) {
    let first = true
    for (const [key, v] of Object.entries(figures)) {
      if (key === "at") continue
      lines.push(`| ${first ? part : ""} | ${key} | ${value(v)} |`)
      first = false
    }
  }
  lines.push(README_END)
  return lines.join("\n")
}
