/**
 * The one clock of the queue engine. Every time the engine reads (create and schedule times,
 * the token bucket, tombstones, `Retry-After` dates) and every timer it sets (due times,
 * dispatch deadlines, wait timeouts) goes through an {@link EngineClock}, so a test can drive
 * the engine with a clock it advances by hand.
 *
 * @internal
 */

/** Time and timers for the engine. */
export interface EngineClock {
  /** Milliseconds since the epoch; never goes backwards. */
  readonly now: () => number
  /** Calls `f` once, `ms` milliseconds from now; returns a function that cancels the call. */
  readonly setTimer: (ms: number, f: () => void) => () => void
}

/** The longest delay `setTimeout` takes; a longer one fires at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1

/**
 * A clock on `now` (default `Date.now`) with timers on `setTimeout`. Timers count real
 * milliseconds: a `now` that jumps ahead (a test's offset) does not make them fire sooner.
 * Waits longer than `setTimeout` allows (about 24.8 days) are re-armed until they are over.
 * `now` is held at the latest value it returned, so a system clock set back does not move
 * the engine's time backwards.
 */
export const systemClock = (now: () => number = Date.now): EngineClock => {
  let latest = Number.NEGATIVE_INFINITY
  return {
    now: () => {
      latest = Math.max(latest, now())
      return latest
    },
    setTimer: (ms, f) => {
      let timer: ReturnType<typeof setTimeout>
      const arm = (remaining: number) => {
        const step = Math.min(MAX_TIMEOUT_MS, remaining)
        timer = setTimeout(() => (remaining > step ? arm(remaining - step) : f()), step)
      }
      arm(Math.max(0, Math.ceil(ms)))
      return () => clearTimeout(timer)
    }
  }
}
