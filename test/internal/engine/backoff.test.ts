/**
 * The retry timing of a queue, exactly: every delay equals the backoff model (never sooner,
 * never later), the overload and Retry-After rules, and when retries stop.
 * (test/internal/engine.test.ts checks the same law through the engine's scheduler.)
 *
 * Equivalent mutant: `k - 1 <= doublings` as `<` in backoffDelay (at k - 1 = doublings both
 * branches give minBackoff * 2^doublings); `if (durationLimited)` as `if (true)` in mayRetry (with
 * no duration limit `!durationReached` is true, as the `return true` after it).
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { backoffDelay, mayRetry, parseRetryAfter, retryDelay } from "../../../src/internal/engine/backoff.js"
import type { RetrySettings } from "../../../src/internal/engine/model.js"

const settings = (overrides: Partial<RetrySettings> = {}): RetrySettings => ({
  maxAttempts: -1,
  maxRetryDurationMs: 0,
  minBackoffMs: 10_000,
  maxBackoffMs: 300_000,
  maxDoublings: 3,
  ...overrides
})

/** Cloud Tasks' documented law, step by step: double `maxDoublings` times, then add the last doubled interval. */
const modelDelays = (s: RetrySettings, retries: number): Array<number> => {
  const delays: Array<number> = []
  let interval = s.minBackoffMs
  let doublings = 0
  for (let retry = 1; retry <= retries; retry++) {
    delays.push(Math.min(interval, s.maxBackoffMs))
    if (doublings < Math.max(0, s.maxDoublings)) {
      interval *= 2
      doublings++
    } else {
      interval += s.minBackoffMs * 2 ** Math.max(0, s.maxDoublings)
    }
  }
  return delays
}

const retrySettings = fc.record({
  maxAttempts: fc.constant(-1),
  maxRetryDurationMs: fc.constant(0),
  minBackoffMs: fc.integer({ min: 1, max: 100_000 }),
  maxBackoffMs: fc.integer({ min: 1, max: 10_000_000 }),
  maxDoublings: fc.integer({ min: 0, max: 20 })
}).filter((s) => s.minBackoffMs <= s.maxBackoffMs)

describe("backoffDelay", () => {
  it("the documented example: 10 s, 300 s, 3 doublings retries after 10, 20, 40, 80, 160, 240, 300, 300 s", () => {
    expect(Array.from({ length: 8 }, (_, i) => backoffDelay(settings(), i + 1) / 1000)).toEqual(
      [10, 20, 40, 80, 160, 240, 300, 300]
    )
  })

  it.prop("every retry waits exactly as the model says", { s: retrySettings }, ({ s }) => {
    expect(Array.from({ length: 30 }, (_, i) => backoffDelay(s, i + 1))).toEqual(modelDelays(s, 30))
  })

  it("0 doublings is linear; a negative count acts as 0; a retry number under 1 is the first retry", () => {
    expect([1, 2, 3, 4].map((k) => backoffDelay(settings({ maxDoublings: 0 }), k) / 1000)).toEqual([10, 20, 30, 40])
    expect([1, 2, 3].map((k) => backoffDelay(settings({ maxDoublings: -1 }), k) / 1000)).toEqual([10, 20, 30])
    expect(backoffDelay(settings(), 0)).toBe(10_000)
    expect(backoffDelay(settings(), -3)).toBe(10_000)
  })
})

describe("retryDelay", () => {
  it("429 and 503 double the backoff, still capped at maxBackoff; other statuses and none do not", () => {
    for (const status of [429, 503]) {
      expect(retryDelay(settings(), 1, status, undefined)).toBe(20_000)
      expect(retryDelay(settings(), 5, status, undefined)).toBe(300_000)
    }
    for (const status of [undefined, 200, 404, 428, 430, 500, 502, 504]) {
      expect(retryDelay(settings(), 1, status, undefined)).toBe(10_000)
      expect(retryDelay(settings(), 5, status, undefined)).toBe(160_000)
    }
  })

  it("a Retry-After longer than the delay wins, even beyond maxBackoff; a shorter one changes nothing", () => {
    expect(retryDelay(settings(), 1, 500, 15_000)).toBe(15_000)
    expect(retryDelay(settings(), 1, 503, 15_000)).toBe(20_000)
    expect(retryDelay(settings(), 1, 503, 25_000)).toBe(25_000)
    expect(retryDelay(settings(), 8, 503, 3_600_000)).toBe(3_600_000)
    expect(retryDelay(settings(), 3, 500, 1_000)).toBe(40_000)
    expect(retryDelay(settings(), 3, 500, 0)).toBe(40_000)
  })
})

describe("mayRetry", () => {
  it("maxAttempts alone: retries until exactly that many attempts", () => {
    const s = settings({ maxAttempts: 3 })
    expect([1, 2, 3, 4].map((attempts) => mayRetry(s, attempts, 0, 1e12))).toEqual([true, true, false, false])
  })

  it("maxRetryDuration alone: retries until exactly that long after the first attempt", () => {
    const s = settings({ maxRetryDurationMs: 60_000 })
    expect(mayRetry(s, 1000, 5_000, 64_999)).toBe(true)
    expect(mayRetry(s, 1000, 5_000, 65_000)).toBe(false)
    expect(mayRetry(s, 1000, 5_000, 65_001)).toBe(false)
  })

  it("both set: retries stop only once both are reached", () => {
    const s = settings({ maxAttempts: 3, maxRetryDurationMs: 60_000 })
    expect(mayRetry(s, 3, 0, 59_999)).toBe(true)
    expect(mayRetry(s, 2, 0, 60_000)).toBe(true)
    expect(mayRetry(s, 3, 0, 60_000)).toBe(false)
    expect(mayRetry(s, 1, 0, 0)).toBe(true)
  })

  it("neither set (-1 attempts, 0 duration): retries forever", () => {
    expect(mayRetry(settings(), 1_000_000, 0, 1e12)).toBe(true)
    expect(mayRetry(settings({ maxAttempts: 0 }), 1_000_000, 0, 1e12)).toBe(true)
  })
})

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-01-01T00:00:00Z")
  it("whole seconds, trimmed", () => {
    expect(parseRetryAfter("120", now)).toBe(120_000)
    expect(parseRetryAfter(" 7 ", now)).toBe(7_000)
    expect(parseRetryAfter("0", now)).toBe(0)
  })

  it("an HTTP date, from the engine's clock; a date in the past is now", () => {
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:01:30 GMT", now)).toBe(90_000)
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:59:00 GMT", now)).toBe(0)
  })

  it("absent or unreadable: no Retry-After", () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined()
    expect(parseRetryAfter("soon", now)).toBeUndefined()
    expect(parseRetryAfter("12abc", now)).toBeUndefined()
    expect(parseRetryAfter("x12", now)).toBeUndefined()
  })
})
