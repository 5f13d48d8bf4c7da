/**
 * A set of background fibers owned by the current scope: `drain` waits for them;
 * closing the scope waits for them up to a grace period, then interrupts what is
 * left and logs how many. Shared by the local route and the task server, so that
 * no accepted task disappears silently.
 */
import { Duration, Effect, FiberSet, Option, type Scope } from "effect"
import type { EventName } from "../Events.js"
import * as Log from "./log.js"

export interface Supervisor {
  readonly fibers: FiberSet.FiberSet<unknown, never>
  readonly drain: Effect.Effect<void>
}

export const makeSupervisor = (options: {
  readonly gracePeriod: Duration.Duration
  /** Logged with the count of interrupted fibers when the grace period runs out. */
  readonly interruptedEvent: EventName
}): Effect.Effect<Supervisor, never, Scope.Scope> =>
  Effect.gen(function*() {
    const fibers = yield* FiberSet.make<unknown, never>()
    // Runs before the FiberSet's own finalizer, which interrupts what is left.
    // Finalizers are uninterruptible: the wait must be made interruptible for the timeout to end it.
    yield* Effect.addFinalizer(() =>
      Effect.interruptible(FiberSet.awaitEmpty(fibers)).pipe(
        Effect.timeoutOption(options.gracePeriod),
        Effect.flatMap(Option.match({
          onSome: () => Effect.void,
          onNone: () =>
            Effect.flatMap(FiberSet.size(fibers), (count) =>
              Log.warn(
                options.interruptedEvent,
                `Closing: ${count} task(s) still running after ${Duration.format(options.gracePeriod)}; interrupting`,
                { count }
              ))
        }))
      )
    )
    return { fibers, drain: FiberSet.awaitEmpty(fibers) }
  })
