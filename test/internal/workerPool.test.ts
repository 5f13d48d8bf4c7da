import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import { forEachPooled } from "../../src/internal/workerPool.js"

/** `f` of a pool that records how many items run at once; each item takes `10 - item` millis. */
const tracked = () => {
  const seen = { running: 0, peak: 0 }
  const f = (item: number) =>
    Effect.gen(function*() {
      seen.running++
      seen.peak = Math.max(seen.peak, seen.running)
      yield* Effect.sleep(`${10 - item} millis`)
      seen.running--
      return item * 2
    })
  return { seen, f }
}

describe("forEachPooled", () => {
  it.effect("returns the results in the items' order, whatever order they finish in, at most `concurrency` at once", () =>
    Effect.gen(function*() {
      const { f, seen } = tracked()
      const fiber = yield* Effect.fork(forEachPooled([0, 1, 2, 3, 4, 5, 6], 3, f))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toEqual([0, 2, 4, 6, 8, 10, 12])
      expect(seen.peak).toBe(3)
    }))

  it.effect("runs one at a time below 1 or for NaN, and no more workers than items", () =>
    Effect.gen(function*() {
      for (const concurrency of [0, -2, Number.NaN]) {
        const { f, seen } = tracked()
        const fiber = yield* Effect.fork(forEachPooled([1, 2, 3], concurrency, f))
        yield* TestClock.adjust("1 second")
        expect(yield* Fiber.join(fiber)).toEqual([2, 4, 6])
        expect(seen.peak).toBe(1)
      }
      const { f, seen } = tracked()
      const fiber = yield* Effect.fork(forEachPooled([1, 2], Infinity, f))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toEqual([2, 4])
      expect(seen.peak).toBe(2)
      expect(yield* forEachPooled([], 4, f)).toEqual([])
    }))
})
