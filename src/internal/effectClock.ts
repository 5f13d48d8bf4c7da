/**
 * The queue engine's clock on effect's `Clock`, for the in-process queue: it keeps time
 * the way the program does, live in production and development, virtual under
 * `TestClock` (so a test moves retries and schedules forward with `TestClock.adjust`).
 *
 * One fiber sleeps until the earliest timer, however many timers are set (a dispatch
 * deadline per attempt, a wake-up per queue); a timer due now runs on the next turn of
 * the program's scheduler, without a sleep, so that an immediate dispatch never waits for a
 * virtual clock to move.
 */
import { Duration, Effect, Fiber, FiberRef, FiberRefs, Runtime, type Scope } from "effect"
import type { EngineClock } from "./engine/clock.js"
import { MinHeap } from "./engine/heap.js"

interface Timer {
  readonly at: number
  readonly seq: number
  readonly f: () => void
  cancelled: boolean
}

/** An engine clock on the `Clock` of the current fiber, its timers stopped when the scope closes. */
export const makeEffectClock: Effect.Effect<EngineClock, never, Scope.Scope> = Effect.gen(function*() {
  const runtime = yield* Effect.runtime<never>()
  const clock = yield* Effect.clock
  // Timers due now run as a task of the program's scheduler, between its fibers: a
  // setImmediate never ran while fibers kept the event loop in its timers phase (effect
  // yields with setTimeout), and a rate-limited queue ran nothing while tasks kept coming.
  const scheduler = FiberRefs.getOrDefault(runtime.fiberRefs, FiberRef.currentScheduler)
  const now = () => clock.unsafeCurrentTimeMillis()
  const timers = new MinHeap<Timer>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq))
  let immediate: Array<Timer> = []
  let flushScheduled = false
  let sleeper: { readonly at: number; readonly fiber: Fiber.RuntimeFiber<void> } | undefined
  let seq = 0
  let closed = false
  /** Cancelled timers still in the heap: dropped together once they are the larger part. */
  let cancelledInHeap = 0

  /** Runs a timer once; cancelling it afterwards does nothing. */
  const run = (timer: Timer) => {
    if (timer.cancelled) return
    timer.cancelled = true
    timer.f()
  }

  const flushImmediate = () => {
    flushScheduled = false
    const due = immediate
    immediate = []
    for (const timer of due) run(timer)
  }

  /** Runs the timers that are due, then sleeps until the next one. */
  const fire = () => {
    sleeper = undefined
    const time = now()
    for (let next = timers.peek(); next !== undefined && next.at <= time; next = timers.peek()) {
      timers.pop()
      if (next.cancelled) cancelledInHeap--
      run(next)
    }
    arm()
  }

  const arm = () => {
    if (closed) return
    let next = timers.peek()
    while (next !== undefined && next.cancelled) {
      timers.pop()
      cancelledInHeap--
      next = timers.peek()
    }
    if (next === undefined || (sleeper !== undefined && sleeper.at <= next.at)) return
    if (sleeper !== undefined) sleeper.fiber.unsafeInterruptAsFork(sleeper.fiber.id())
    const at = next.at
    const fiber = Runtime.runFork(runtime)(
      Effect.zipRight(Effect.sleep(Duration.millis(Math.max(0, at - now()))), Effect.sync(fire))
    )
    sleeper = { at, fiber }
  }

  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      closed = true
      timers.clear()
      immediate = []
      const running = sleeper
      sleeper = undefined
      return running === undefined ? Effect.void : Fiber.interrupt(running.fiber)
    })
  )

  return {
    now,
    setTimer: (ms, f) => {
      const timer: Timer = { at: now() + Math.max(0, ms), seq: seq++, f, cancelled: closed }
      if (ms <= 0) {
        immediate.push(timer)
        if (!flushScheduled) {
          flushScheduled = true
          scheduler.scheduleTask(flushImmediate, 0)
        }
      } else {
        timers.push(timer)
        arm()
      }
      return () => {
        if (timer.cancelled) return
        timer.cancelled = true
        if (ms > 0 && ++cancelledInHeap > 256 && cancelledInHeap * 2 > timers.size) {
          timers.removeWhere((timer) => timer.cancelled)
          cancelledInHeap = 0
        }
      }
    }
  } satisfies EngineClock
})
