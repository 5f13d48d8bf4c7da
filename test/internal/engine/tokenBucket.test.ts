/**
 * A queue's rate limit, exactly: the burst Cloud Tasks picks for a rate, and the token bucket's
 * answers on a hand-driven clock (no wall-clock timing).
 *
 * Equivalent mutants in msUntilToken: `tokens >= 1` as `> 1` (at exactly one token the formula
 * also gives 0), and `rate <= 0` as `< 0` or `false` (the formula divides by a rate of 0: Infinity).
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { burstSizeFor, TokenBucket } from "../../../src/internal/engine/tokenBucket.js"

describe("burstSizeFor", () => {
  it("is a fifth of the rate, rounded up, from 1 to 100", () => {
    expect([0, 0.5, 1, 5, 5.1, 10, 20, 21, 495, 496, 500, 1000].map(burstSizeFor)).toEqual(
      [1, 1, 1, 1, 2, 2, 4, 5, 99, 100, 100, 100]
    )
  })

  it.prop("follows the rule for any rate", { rate: fc.double({ min: 0, max: 2000, noNaN: true }) }, ({ rate }) => {
    const burst = burstSizeFor(rate)
    expect(Number.isInteger(burst)).toBe(true)
    expect(burst).toBe(rate <= 5 ? 1 : rate >= 500 ? 100 : Math.ceil(rate / 5))
  })
})

const bucket = (rate: number, capacity: number) => {
  const clock = { now: 1_000_000 }
  return { clock, bucket: new TokenBucket(rate, capacity, () => clock.now) }
}

const takeAll = (b: TokenBucket): number => {
  let taken = 0
  while (b.tryTake()) taken++
  return taken
}

describe("TokenBucket", () => {
  it("starts full: the burst goes at once, then none", () => {
    const { bucket: b } = bucket(4, 3)
    expect(b.msUntilToken()).toBe(0)
    expect(takeAll(b)).toBe(3)
    expect(b.tryTake()).toBe(false)
  })

  it("says exactly when the next token is there, and has it then, not a millisecond sooner", () => {
    const { bucket: b, clock } = bucket(4, 1)
    expect(b.tryTake()).toBe(true)
    expect(b.msUntilToken()).toBe(250)
    clock.now += 100
    expect(b.msUntilToken()).toBeCloseTo(150, 9)
    clock.now += 149
    expect(b.tryTake()).toBe(false)
    expect(b.msUntilToken()).toBeCloseTo(1, 9)
    clock.now += 1
    expect(b.tryTake()).toBe(true)
    expect(b.tryTake()).toBe(false)
  })

  it("refills continuously at the rate, never over capacity", () => {
    const { bucket: b, clock } = bucket(10, 5)
    takeAll(b)
    clock.now += 300
    expect(takeAll(b)).toBe(3)
    clock.now += 60_000
    expect(takeAll(b)).toBe(5)
  })

  it("a clock read that goes backwards takes no token already earned", () => {
    const { bucket: b, clock } = bucket(10, 2)
    takeAll(b)
    clock.now += 50
    expect(b.msUntilToken()).toBeCloseTo(50, 9)
    clock.now -= 1_000
    expect(b.msUntilToken()).toBeCloseTo(50, 9)
  })

  it("rate 0: never another token; an infinite rate: always one", () => {
    const zero = bucket(0, 1)
    expect(zero.bucket.tryTake()).toBe(true)
    zero.clock.now += 1e9
    expect(zero.bucket.tryTake()).toBe(false)
    expect(zero.bucket.msUntilToken()).toBe(Number.POSITIVE_INFINITY)
    const infinite = bucket(Number.POSITIVE_INFINITY, 2)
    expect(Array.from({ length: 10 }, () => infinite.bucket.tryTake())).toEqual(Array(10).fill(true))
    expect(infinite.bucket.msUntilToken()).toBe(0)
  })

  it("reconfigure keeps the tokens earned up to the new capacity, and refills at the new rate", () => {
    const { bucket: b, clock } = bucket(10, 10)
    takeAll(b)
    clock.now += 500 // 5 tokens earned at the old rate
    b.reconfigure(1, 3)
    expect(takeAll(b)).toBe(3)
    expect(b.msUntilToken()).toBe(1000)
    clock.now += 2000
    b.reconfigure(2, 10)
    expect(takeAll(b)).toBe(2)
    clock.now += 500
    expect(takeAll(b)).toBe(1)
  })
})
