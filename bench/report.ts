/**
 * Rows as the cases report them: printed at once, kept for the table and
 * bench/results.json.
 */
import { performance } from "node:perf_hooks"
import { type Measured, meets, type Row } from "./harness.js"
import { verbose } from "./options.js"

export const rows: Array<Row> = []

/** Reports a measured figure as a row: `target` null for a row that only reports. */
export const report = (
  id: string,
  name: string,
  measured: Measured,
  better: Row["better"],
  target: number | null
): void => {
  const r: Row = { id, name, ...measured, better, target }
  rows.push(r)
  const flag = target === null ? "" : meets(r) ? " ok" : " MISSED"
  const at = verbose ? ` (at ${(performance.now() / 1000).toFixed(1)} s)` : ""
  const [min, max] = r.spread
  console.log(
    `${id.padEnd(4)} ${name.padEnd(72)} ratio ${r.ratio.toFixed(3)} [${min.toFixed(2)}–${max.toFixed(2)}] ×${r.pairs}${flag}${at}`
  )
}
