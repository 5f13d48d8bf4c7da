/**
 * Background fibers owned by the current scope, on effect's `FiberSet`: `drain` waits
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
  FiberRef,
  FiberRefs,
  FiberSet,
  type Scope
} from "effect"
import type { EventName } from "../Events.js"
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
    const fibers = yield* FiberSet.make<unknown, unknown>()
    /**
     * What describes each running fiber: a Map emptied as each fiber ends, not a WeakMap. The
     * young generation's collector keeps a WeakMap's entries alive, so each fiber it described
     * and what it held moved to the old generation (benchmark B5: 1.5 MB per scavenge, 60 KB
     * without). Once closing has begun, entries stay: closing reads them after interrupting.
     */
    const fieldsOf = new Map<Fiber.RuntimeFiber<unknown, unknown>, Log.EventFields>()
    let closed = false
    const describe = (fiber: Fiber.RuntimeFiber<unknown, unknown>, fields: Log.EventFields) => {
      fieldsOf.set(fiber, fields)
      // Stryker disable next-line BlockStatement: equivalent, forgetting only frees memory (benchmark B5h)
      fiber.addObserver(() => {
        // Stryker disable next-line ConditionalExpression: equivalent, as above
        if (!closed) fieldsOf.delete(fiber)
      })
    }

    const interruptLeft = Effect.suspend(() => {
      const left = Array.from(fibers)
      if (left.length === 0) return Effect.void
      return Log.warn(
        options.closeTimedOutEvent,
        `Closing: ${left.length} task(s) still running after ${
          Duration.format(options.waited ?? options.gracePeriod)
        }; interrupting`,
        { count: left.length }
      ).pipe(
        Effect.zipRight(Fiber.interruptAll(left)),
        Effect.zipRight(Effect.asVoid(Effect.forEach(left, (fiber) =>
          // Each has ended: interruptAll waited for them all.
          Effect.flatMap(Fiber.await(fiber), (exit) => {
            const fields = fieldsOf.get(fiber)
            if (fields === undefined) return Effect.void
            // Stryker disable next-line ConditionalExpression: equivalent, a fiber asked to stop that then succeeds still ends interrupted
            if (Exit.isSuccess(exit)) return Effect.void
            // One that failed by itself meanwhile has logged its own outcome.
            if (!Cause.isInterruptedOnly(exit.cause)) return Effect.void
            return logAs(
              fiber.getFiberRefs(),
              Log.warn(options.interruptedEvent, options.interruptedMessage, fields)
            )
          })
        )))
      )
    })

    // Runs before the FiberSet's own finalizer (which interrupts without a word).
    // Finalizers are uninterruptible: the wait must be made interruptible for the timeout to end it.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        return Effect.interruptible(FiberSet.awaitEmpty(fibers)).pipe(Effect.timeoutOption(options.gracePeriod))
      }).pipe(Effect.zipRight(interruptLeft))
    )

    return {
      closing: () => closed,
      fork: (effect, fields) =>
        Effect.tap(FiberSet.run(fibers, effect), (fiber) => {
          describe(fiber, fields)
        }),
      guard: (fiber) => {
        FiberSet.unsafeAdd(fibers, fiber)
      },
      track: (fiber, fields) => {
        FiberSet.unsafeAdd(fibers, fiber)
        describe(fiber, fields)
        return fiber
      },
      silence: (fiber) => {
        fieldsOf.delete(fiber)
      },
      drain: Effect.suspend(() => Fiber.awaitAll(Array.from(fibers))).pipe(Effect.asVoid)
    }
  })
