/**
 * Measurement helpers. On a shared machine whose speed drifts, absolute times lie and
 * so does the ratio of two medians of a few long rounds: each case therefore runs ours
 * and its baseline in many short, adjacent pairs (alternating which goes first, a full
 * GC before each pair and a young-generation one between its sides) and reports the
 * median of the per-pair ratios, with their
 * min-max spread and the number of pairs. A neighbour's burst of load then spoils a
 * few pairs, both sides of each alike, rather than one side of the result.
 */
import { performance } from "node:perf_hooks"

/** One measured figure of a case: ours against its baseline. */
export interface Measured {
  /** Median of ours' samples. */
  readonly ours: number
  /** Median of the baseline's samples. */
  readonly baseline: number
  /** Median of the per-pair ratios ours / baseline. */
  readonly ratio: number
  /** The smallest and largest per-pair ratio. */
  readonly spread: readonly [number, number]
  /** How many pairs (1 for a single measurement). */
  readonly pairs: number
}

/** A row of the table and of bench/results.json. */
export interface Row extends Measured {
  readonly id: string
  readonly name: string
  readonly better: "lower" | "higher"
  /** The ratio to meet; null for a row that only reports. */
  readonly target: number | null
}

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** The given per-pair ratios (and each side's samples) summarised. */
export const summarise = (
  ours: ReadonlyArray<number>,
  baseline: ReadonlyArray<number>,
  ratios: ReadonlyArray<number>
): Measured => ({
  ours: median(ours),
  baseline: median(baseline),
  ratio: median(ratios),
  spread: [Math.min(...ratios), Math.max(...ratios)],
  pairs: ratios.length
})

/** One measurement of each side (a count, a derived figure): its ratio, one "pair". */
export const single = (ours: number, baseline: number): Measured => summarise([ours], [baseline], [ours / baseline])

/** Milliseconds that `f` takes. */
export const time = async (f: () => Promise<unknown>): Promise<number> => {
  const start = performance.now()
  await f()
  return performance.now() - start
}

/**
 * Runs `f` `times` times, or fewer once `seconds` have passed: a warm-up that the JIT
 * needs (its compiler threads get little of a loaded machine's CPU, so warming takes
 * longer there), bounded so that it cannot eat a case's whole budget.
 */
export const repeat = async (times: number, seconds: number, f: () => Promise<unknown>): Promise<void> => {
  const end = performance.now() + seconds * 1000
  for (let i = 0; i < times && performance.now() < end; i++) await f()
}

/**
 * A full collection (with --expose-gc), or with `"minor"` a collection of the young
 * generation only: neither side pays for the other's garbage. A full one takes 100 ms
 * and more in this process once the cases have filled its heap, as long as a B1 side.
 */
export const collect = (type: "full" | "minor" = "full") => {
  const gc = (globalThis as { gc?: (options?: { type: "minor" }) => void }).gc
  // Not gc({ type: "major" }): on node 20 it left most of a dropped 50 MiB array in place.
  if (type === "full") gc?.()
  else gc?.({ type: "minor" })
}

/** How many pairs to run: at least `min`, at most `max`, and no more once `seconds` have passed. */
export interface PairOptions {
  /** Untimed pairs first, so that the JIT has compiled both sides. */
  readonly warmup: number
  readonly min: number
  readonly max: number
  readonly seconds: number
}

/** `--verbose`: print every pair, to see the spread behind a median. */
const verbose = process.argv.includes("--verbose")

/**
 * Runs ours and the baseline in adjacent pairs. Each side returns one sample per
 * metric (e.g. `{ rate, p99 }`); every metric gets its own per-pair ratios. The time
 * budget bounds a case on a loaded machine; `max` bounds it on a quiet one.
 */
export const pairsOf = async <K extends string>(
  options: PairOptions,
  ours: () => Promise<Readonly<Record<K, number>>>,
  baseline: () => Promise<Readonly<Record<K, number>>>
): Promise<Record<K, Measured>> => {
  /** The first side of a pair starts after a full collection, the second after a young-generation one. */
  const measure = async (side: () => Promise<Readonly<Record<K, number>>>, first: boolean) => {
    collect(first ? "full" : "minor")
    return side()
  }
  for (let i = 0; i < options.warmup; i++) {
    await measure(ours, true)
    await measure(baseline, false)
  }
  const samples: Array<{ readonly ours: Readonly<Record<K, number>>; readonly baseline: Readonly<Record<K, number>> }> = []
  const deadline = performance.now() + options.seconds * 1000
  while (samples.length < options.max && (samples.length < options.min || performance.now() < deadline)) {
    // Alternate which side goes first: a side that always followed the other would
    // always inherit its leftovers (timers, sockets, the emulator's own garbage).
    if (samples.length % 2 === 0) {
      const a = await measure(ours, true)
      samples.push({ ours: a, baseline: await measure(baseline, false) })
    } else {
      const b = await measure(baseline, true)
      samples.push({ ours: await measure(ours, false), baseline: b })
    }
  }
  const keys = Object.keys(samples[0]!.ours) as Array<K>
  const result = {} as Record<K, Measured>
  for (const key of keys) {
    const a = samples.map((s) => s.ours[key])
    const b = samples.map((s) => s.baseline[key])
    const ratios = samples.map((s) => s.ours[key] / s.baseline[key])
    if (verbose) console.log(`  ${key} pair ratios: ${ratios.map((r) => r.toFixed(3)).join(" ")}`)
    result[key] = summarise(a, b, ratios)
  }
  return result
}

/** {@link pairsOf} for a case with one metric. */
export const pairs = async (
  options: PairOptions,
  ours: () => Promise<number>,
  baseline: () => Promise<number>
): Promise<Measured> =>
  (await pairsOf(
    options,
    async () => ({ value: await ours() }),
    async () => ({ value: await baseline() })
  )).value

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
