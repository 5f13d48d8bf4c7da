/**
 * An engine clock whose time moves only when told, for the test kit: a queue of recorded
 * tasks runs retries hours apart in a moment, in the order and at the times the queue's
 * settings give. A timer due now runs on the next turn of the event loop, as with the
 * other clocks; a later one runs when `advance` reaches it.
 */
import type { EngineClock } from "./engine/clock.js"
import { MinHeap } from "./engine/heap.js"

interface Timer {
  readonly at: number
  readonly seq: number
  readonly f: () => void
  cancelled: boolean
}

export interface VirtualClock extends EngineClock {
  /** Whether timers due now have not run yet (they run on the next turn of the event loop). */
  readonly hasDueTimers: () => boolean
  /**
   * Moves the time to the earliest later timer and runs the timers due then; false, and the
   * time unchanged, when there is none at or before `limit`.
   */
  readonly advance: (limit: number) => boolean
}

/** A clock that starts at `start` (milliseconds since the epoch). */
export const makeVirtualClock = (start: number): VirtualClock => {
  let time = start
  let seq = 0
  const later = new MinHeap<Timer>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq))
  let due: Array<Timer> = []

  const run = (timer: Timer) => {
    if (timer.cancelled) return
    timer.cancelled = true
    timer.f()
  }
  const flush = () => {
    const now = due
    due = []
    for (const timer of now) run(timer)
  }
  const nextLater = (): Timer | undefined => {
    while (later.peek()?.cancelled === true) later.pop()
    return later.peek()
  }

  return {
    now: () => time,
    setTimer: (ms, f) => {
      const timer: Timer = { at: time + Math.max(0, ms), seq: seq++, f, cancelled: false }
      if (ms <= 0) {
        if (due.length === 0) setImmediate(flush)
        due.push(timer)
      } else {
        later.push(timer)
      }
      return () => {
        timer.cancelled = true
      }
    },
    hasDueTimers: () => due.some((timer) => !timer.cancelled),
    advance: (limit) => {
      const next = nextLater()
      if (next === undefined || next.at > limit) return false
      time = next.at
      for (let timer = nextLater(); timer !== undefined && timer.at <= time; timer = nextLater()) {
        later.pop()
        run(timer)
      }
      return true
    }
  }
}
