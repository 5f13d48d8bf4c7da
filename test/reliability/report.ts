/**
 * Sizes and figures of the reliability suite. `npm test` runs it at quick sizes;
 * `npm run stress` (STRESS=1) at full sizes, printing each figure and writing them all
 * to stress/results.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

/** True under `npm run stress`. */
export const stress = process.env.STRESS === "1"

/** `full` under `npm run stress`, `quick` in `npm test`. */
export const size = <A>(quick: A, full: A): A => (stress ? full : quick)

const file = join(import.meta.dirname, "..", "..", "stress", "results.json")

/** Records the figures of one part of the suite (printed and written under `npm run stress`). */
export const report = (part: string, figures: Readonly<Record<string, number | string>>): void => {
  if (!stress) return
  let all: Record<string, unknown> = {}
  try {
    all = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>
  } catch {
    // the first part of a run
  }
  all[part] = { ...figures, at: new Date().toISOString() }
  mkdirSync(join(file, ".."), { recursive: true })
  writeFileSync(file, JSON.stringify(all, null, 2) + "\n")
  console.log(`\n${part}\n${Object.entries(figures).map(([key, value]) => `  ${key.padEnd(28)} ${value}`).join("\n")}`)
}
