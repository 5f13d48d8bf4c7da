/**
 * Measurement helpers: warm-up, interleaved rounds of ours and the baseline, medians.
 * Absolute times on a shared machine lie; only ratios measured in the same run count.
 */
import { performance } from "node:perf_hooks"

export interface Row {
  readonly id: string
  readonly name: string
  readonly ours: number
  readonly baseline: number
  readonly ratio: number
  readonly better: "lower" | "higher"
  readonly target: number | null
}

/** `--verbose`: print every round's measure, to see the spread behind a median. */
const verbose = process.argv.includes("--verbose")
const format = (value: number) => value.toPrecision(4)

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Milliseconds that `f` takes. */
export const time = async (f: () => Promise<unknown>): Promise<number> => {
  const start = performance.now()
  await f()
  return performance.now() - start
}

/**
 * Runs `warmup` untimed rounds of each, then `rounds` timed rounds alternating which
 * goes first, and returns the median of each side's measure.
 */
/** A full collection before each round (with --expose-gc): neither side pays for the other's garbage. */
const collect = () => (globalThis as { gc?: () => void }).gc?.()

export const interleave = async (
  options: { readonly rounds: number; readonly warmup: number },
  ours: () => Promise<number>,
  baseline: () => Promise<number>
): Promise<{ ours: number; baseline: number }> => {
  for (let i = 0; i < options.warmup; i++) {
    await ours()
    await baseline()
  }
  const a: Array<number> = []
  const b: Array<number> = []
  const measure = async (side: () => Promise<number>, into: Array<number>) => {
    collect()
    into.push(await side())
  }
  for (let i = 0; i < options.rounds; i++) {
    if (i % 2 === 0) {
      await measure(ours, a)
      await measure(baseline, b)
    } else {
      await measure(baseline, b)
      await measure(ours, a)
    }
  }
  if (verbose) console.log(`  rounds: ours ${a.map(format).join(" ")} | baseline ${b.map(format).join(" ")}`)
  return { ours: median(a), baseline: median(b) }
}

export const row = (fields: Omit<Row, "ratio">): Row => ({ ...fields, ratio: fields.ours / fields.baseline })

/** Whether a row meets its target (rows without one always do). */
export const meets = (r: Row): boolean =>
  r.target === null || (r.better === "lower" ? r.ratio <= r.target : r.ratio >= r.target)

/** Runs `count` async jobs with at most `concurrency` at once. */
export const pool = async (count: number, concurrency: number, job: (i: number) => Promise<unknown>) => {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) await job(next++)
  }))
}
