/**
 * Background fibers owned by the current scope: `drain` waits for them; closing
 * the scope waits for them up to a grace period, then interrupts what is left and
 * logs how many. Shared by the local route and the task server, so that no
 * accepted task disappears silently. A plain `Set` keeps the cost of each task
 * near that of `Effect.forkDaemon` (effect's `FiberSet` hashes every fiber).
 */
import { Duration, Effect, Fiber, Option, type Scope } from "effect"
import type { EventName } from "../Events.js"
import * as Log from "./log.js"

export interface Supervisor {
  /**
   * Starts `effect` on a fiber of its own. Once closing has begun nothing new is
   * started: `None` tells the caller to refuse the task rather than lose it.
   */
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<Option.Option<Fiber.RuntimeFiber<A, E>>>
  /** Waits until every fiber started so far has finished. */
  readonly drain: Effect.Effect<void>
}

export const makeSupervisor = (options: {
  readonly gracePeriod: Duration.Duration
  /** Logged with the count of interrupted fibers when the grace period runs out. */
  readonly interruptedEvent: EventName
}): Effect.Effect<Supervisor, never, Scope.Scope> =>
  Effect.gen(function*() {
    const running = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
    let closed = false

    const drain: Effect.Effect<void> = Effect.whileLoop({
      while: () => running.size > 0,
      body: () => Fiber.await(running.values().next().value!),
      step: () => {}
    })

    const run = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.suspend(() =>
        closed ? Effect.succeedNone : Effect.map(Effect.forkDaemon(effect), (fiber) => {
          running.add(fiber)
          fiber.addObserver(() => running.delete(fiber))
          return Option.some(fiber)
        })
      )

    // Finalizers are uninterruptible: the wait must be made interruptible for the timeout to end it.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        return Effect.interruptible(drain).pipe(Effect.timeoutOption(options.gracePeriod))
      }).pipe(
        Effect.zipRight(Effect.suspend(() =>
          running.size === 0 ? Effect.void : Log.warn(
            options.interruptedEvent,
            `Closing: ${running.size} task(s) still running after ${
              Duration.format(options.gracePeriod)
            }; interrupting`,
            { count: running.size }
          ).pipe(Effect.zipRight(Fiber.interruptAll(running)))
        ))
      )
    )
    return { run, drain }
  })
