/**
 * What a run writes to bench/results.json, and the markdown table made of it: the one
 * the bench prints and the README's Performance section shows.
 */
import { meets, type Row } from "./harness.js"

export interface Results {
  readonly mode: "quick" | "full"
  /** When the run ended (ISO-8601). */
  readonly date: string
  readonly node: string
  /** How long the cases took, build excluded. */
  readonly seconds: number
  /** The 1, 5 and 15 minute load averages before and after the run. */
  readonly load: { readonly before: string; readonly after: string }
  readonly rows: ReadonlyArray<Row>
}

const figure = (value: number) =>
  Math.abs(value) >= 100 ? Math.round(value).toLocaleString("en-US") : value.toPrecision(3)

export const markdownTable = (results: Results): string => {
  const lines = [
    "| id | what | ours | baseline | ratio | spread | pairs | target | met |",
    "|---|---|---|---|---|---|---|---|---|"
  ]
  for (const r of results.rows) {
    const target = r.target === null ? "" : `${r.better === "lower" ? "≤" : "≥"} ${r.target.toFixed(2)}`
    const met = r.target === null ? "" : meets(r) ? "yes" : "**no**"
    const spread = r.pairs > 1 ? `${r.spread[0].toFixed(2)}–${r.spread[1].toFixed(2)}` : ""
    lines.push(
      `| ${r.id} | ${r.name} | ${figure(r.ours)} | ${figure(r.baseline)} | ${r.ratio.toFixed(3)} | ${spread} | ${r.pairs} | ${target} | ${met} |`
    )
  }
  return lines.join("\n")
}
