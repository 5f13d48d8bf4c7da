/**
 * Background fibers owned by the current scope: `drain` waits
 * for those started before it; closing the scope waits for them up to a grace
 * period, then interrupts what is left and logs each one it interrupted. Shared by
 * the local route and the task server, so that no accepted task disappears silently.
 */
import {
  Cause,
  DefaultServices,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberId,
  FiberRef,
  FiberRefs,
  type Scope
} from "effect"
import type { EventName } from "../Events.js"
import { Churn } from "./churn.js"
import * as Log from "./log.js"

export interface Supervisor {
  /**
   * Whether closing has begun: from then on nothing new may start, and the caller
   * refuses the task rather than lose it.
   */
  readonly closing: () => boolean
  /**
   * Starts `effect` on a fiber of its own; `fields` describe it in the event logged
   * if closing interrupts it. Check `closing` first.
   */
  readonly fork: <A, E>(effect: Effect.Effect<A, E>, fields: Log.EventFields) => Effect.Effect<Fiber.RuntimeFiber<A, E>>
  /**
   * Supervises `fiber` (the caller's own, running work it waits for) as if it had been
   * forked: closing waits for it to end and, past the grace period, interrupts it. It
   * logs its own interruption. Cheaper than `fork` and `Fiber.await`. Check `closing` first.
   */
  readonly guard: (fiber: Fiber.RuntimeFiber<unknown, unknown>) => void
  /** Supervises a fiber started elsewhere (the in-process queue starts attempts outside any fiber). */
  readonly track: <A, E>(fiber: Fiber.RuntimeFiber<A, E>, fields: Log.EventFields) => Fiber.RuntimeFiber<A, E>
  /**
   * Closing still interrupts `fiber` if it runs, but logs nothing for it: its task already
   * ended otherwise (it was cancelled).
   */
  readonly silence: (fiber: Fiber.RuntimeFiber<unknown, unknown>) => void
  /** Waits until every fiber started before the call has finished. */
  readonly drain: Effect.Effect<void>
}

export interface SupervisorOptions {
  readonly gracePeriod: Duration.Duration
  /**
   * How long closing waited in all, for the close summary: the grace period, unless the
   * owner spent it waiting itself (the local route drains before this supervisor closes).
   */
  readonly waited?: Duration.Duration | undefined
  /** Logged once, a warning with the count, when fibers are still running after the grace period. */
  readonly closeTimedOutEvent: EventName
  /** Logged, a warning, for each fiber closing interrupted. */
  readonly interruptedEvent: EventName
  readonly interruptedMessage: string
}

/**
 * Logs `event` as the fiber that ran `refs` would have: with its annotations, log
 * spans, context (the enqueuer's trace span), loggers, log level and default
 * services (the Console a logger writes to).
 */
const logAs = (refs: FiberRefs.FiberRefs, log: Effect.Effect<void>): Effect.Effect<void> => {
  const theTask = <A>(ref: FiberRef.FiberRef<A>) => Effect.locally(ref, FiberRefs.getOrDefault(refs, ref))
  return log.pipe(
    theTask(FiberRef.currentLogAnnotations),
    theTask(FiberRef.currentLogSpan),
    theTask(FiberRef.currentContext),
    theTask(FiberRef.currentLoggers),
    theTask(FiberRef.currentMinimumLogLevel),
    theTask(DefaultServices.currentServices)
  )
}

export const makeSupervisor = (options: SupervisorOptions): Effect.Effect<Supervisor, never, Scope.Scope> =>
  Effect.gen(function*() {
    /**
     * The running fibers, each with what describes it (`undefined`: nothing to log if closing
     * interrupts it). A Map emptied as each fiber ends rather than effect's `FiberSet` plus a
     * `WeakMap`: the young generation's collector keeps a WeakMap's entries alive, and a
     * promoted Set links its dead tables to their successors (`Churn`), so each fiber and what
     * it held moved to the old generation (benchmark B5).
     */
    let running = new Map<Fiber.RuntimeFiber<unknown, unknown>, Log.EventFields | undefined>()
    const churn = new Churn()
    let closed = false
    /** Set once closing has interrupted what was left: a fiber supervised later is interrupted at once. */
    let shut = false
    const add = (fiber: Fiber.RuntimeFiber<unknown, unknown>, fields: Log.EventFields | undefined) => {
      if (shut) {
        fiber.unsafeInterruptAsFork(FiberId.none)
        return
      }
      running.set(fiber, fields)
      fiber.addObserver(() => {
        running.delete(fiber)
        // Stryker disable next-line ConditionalExpression: equivalent, the copy only ends a chain of dead tables (benchmark B5)
        if (churn.removed(running.size)) running = new Map(running)
      })
    }

    /** Waits until no supervised fiber runs. */
    const awaitEmpty: Effect.Effect<void> = Effect.suspend(() => {
      const first = running.keys().next()
      return first.done === true ? Effect.void : Effect.zipRight(Fiber.await(first.value), awaitEmpty)
    })

    const interruptLeft = Effect.suspend(() => {
      const left = Array.from(running)
      if (left.length === 0) return Effect.void
      return Log.warn(
        options.closeTimedOutEvent,
        `Closing: ${left.length} task(s) still running after ${
          Duration.format(options.waited ?? options.gracePeriod)
        }; interrupting`,
        { count: left.length }
      ).pipe(
        Effect.zipRight(Fiber.interruptAll(left.map(([fiber]) => fiber))),
        Effect.zipRight(Effect.forEach(left, ([fiber, fields]) =>
          // Each has ended: interruptAll waited for them all.
          Effect.flatMap(Fiber.await(fiber), (exit) => {
            if (fields === undefined) return Effect.void
            // Stryker disable next-line ConditionalExpression: equivalent, a fiber asked to stop that then succeeds still ends interrupted
            if (Exit.isSuccess(exit)) return Effect.void
            // One that failed by itself meanwhile has logged its own outcome.
            if (!Cause.isInterruptedOnly(exit.cause)) return Effect.void
            return logAs(
              fiber.getFiberRefs(),
              Log.warn(options.interruptedEvent, options.interruptedMessage, fields)
            )
          })))
      )
    })

    // Finalizers are uninterruptible: the wait must be made interruptible for the timeout to end it.
    // What was supervised during the interruptions above is interrupted without a word.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        return Effect.interruptible(awaitEmpty).pipe(Effect.timeoutOption(options.gracePeriod))
      }).pipe(
        Effect.zipRight(interruptLeft),
        Effect.zipRight(Effect.suspend(() => {
          shut = true
          return Fiber.interruptAll(Array.from(running.keys()))
        }))
      )
    )

    return {
      closing: () => closed,
      fork: (effect, fields) =>
        Effect.tap(Effect.forkDaemon(effect), (fiber) => {
          add(fiber, fields)
        }),
      guard: (fiber) => {
        add(fiber, undefined)
      },
      track: (fiber, fields) => {
        add(fiber, fields)
        return fiber
      },
      silence: (fiber) => {
        if (running.has(fiber)) running.set(fiber, undefined)
      },
      drain: Effect.suspend(() => Fiber.awaitAll(Array.from(running.keys()))).pipe(Effect.asVoid)
    }
  })
