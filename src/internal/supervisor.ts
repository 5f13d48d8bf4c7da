/**
 * Background fibers owned by the current scope: `drain` waits for them; closing
 * the scope waits for them up to a grace period, then interrupts what is left and
 * logs each one it interrupted. Shared by the local route and the task server, so
 * that no accepted task disappears silently. A plain `Map` keeps the cost of each
 * task near that of `Effect.forkDaemon` (effect's `FiberSet` hashes every fiber),
 * and logging interruptions here spares every task an uninterruptible region of
 * its own to observe one.
 */
import { Cause, DefaultServices, Duration, Effect, Exit, Fiber, FiberRef, FiberRefs, type Scope } from "effect"
import type { EventName } from "../Events.js"
import * as Log from "./log.js"

export interface Supervisor {
  /**
   * Whether closing has begun: from then on nothing new may start, and the caller
   * refuses the task rather than lose it.
   */
  readonly closing: () => boolean
  /**
   * Starts `effect` on a fiber of its own and returns `onStarted` of it; `fields`
   * describe it in the event logged if closing interrupts it. Check `closing` first.
   */
  readonly fork: <A, E, B>(
    effect: Effect.Effect<A, E>,
    fields: Log.EventFields,
    onStarted: (fiber: Fiber.RuntimeFiber<A, E>) => B
  ) => Effect.Effect<B>
  /** Waits until every fiber started so far has finished. */
  readonly drain: Effect.Effect<void>
}

export const makeSupervisor = (options: {
  readonly gracePeriod: Duration.Duration
  /** Logged (a warning) for each fiber closing interrupts, and with their count. */
  readonly interruptedEvent: EventName
  /** The message of the event for one interrupted fiber. */
  readonly interruptedMessage: string
}): Effect.Effect<Supervisor, never, Scope.Scope> =>
  Effect.gen(function*() {
    const running = new Map<Fiber.RuntimeFiber<unknown, unknown>, Log.EventFields>()
    let closed = false

    const drain: Effect.Effect<void> = Effect.whileLoop({
      while: () => running.size > 0,
      body: () => Fiber.await(running.keys().next().value!),
      step: () => {}
    })

    const fork = <A, E, B>(
      effect: Effect.Effect<A, E>,
      fields: Log.EventFields,
      onStarted: (fiber: Fiber.RuntimeFiber<A, E>) => B
    ) =>
      Effect.map(Effect.forkDaemon(effect), (fiber) => {
        running.set(fiber, fields)
        fiber.addObserver(() => running.delete(fiber))
        return onStarted(fiber)
      })

    const interruptLeft = Effect.suspend(() => {
      if (running.size === 0) return Effect.void
      const left = [...running]
      return Log.warn(
        options.interruptedEvent,
        `Closing: ${left.length} task(s) still running after ${Duration.format(options.gracePeriod)}; interrupting`,
        { count: left.length }
      ).pipe(
        Effect.zipRight(Fiber.interruptAll(left.map(([fiber]) => fiber))),
        Effect.zipRight(Effect.forEach(left, ([fiber, fields]) => {
          // One that finished by itself meanwhile has logged its own outcome.
          const exit = fiber.unsafePoll()
          if (exit === null || Exit.isSuccess(exit) || !Cause.isInterruptedOnly(exit.cause)) return Effect.void
          // Logged as the task itself would have: with its annotations, log spans, context
          // (the enqueuer's trace span), loggers, log level and default services (the
          // Console a logger writes to). FiberRefs of the application's own are not carried.
          const refs = fiber.getFiberRefs()
          const theTask = <A>(ref: FiberRef.FiberRef<A>) => Effect.locally(ref, FiberRefs.getOrDefault(refs, ref))
          return Log.warn(options.interruptedEvent, options.interruptedMessage, fields).pipe(
            theTask(FiberRef.currentLogAnnotations),
            theTask(FiberRef.currentLogSpan),
            theTask(FiberRef.currentContext),
            theTask(FiberRef.currentLoggers),
            theTask(FiberRef.currentMinimumLogLevel),
            theTask(DefaultServices.currentServices)
          )
        }, { discard: true }))
      )
    })

    // Finalizers are uninterruptible: the wait must be made interruptible for the timeout to end it.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        return Effect.interruptible(drain).pipe(Effect.timeoutOption(options.gracePeriod))
      }).pipe(Effect.zipRight(interruptLeft))
    )
    return { closing: () => closed, fork, drain }
  })
