/**
 * A module or client loaded on first use, once: concurrent first uses wait for the
 * one load; a failure or an interruption is not kept, so the next use tries again
 * (`Effect.cached` would keep it).
 */
import { Effect, Option } from "effect"

/** An effect that runs `load` until it first succeeds, then returns that value. */
export const loadOnce = <A, E, R>(load: Effect.Effect<A, E, R>): Effect.Effect<Effect.Effect<A, E, R>> =>
  Effect.map(Effect.makeSemaphore(1), (lock) => {
    let loaded: Option.Option<A> = Option.none()
    const first = lock.withPermits(1)(Effect.suspend(() =>
      Option.isSome(loaded) ? Effect.succeed(loaded.value) : Effect.tap(load, (value) => {
        loaded = Option.some(value)
      })
    ))
    return Effect.suspend(() => (Option.isSome(loaded) ? Effect.succeed(loaded.value) : first))
  })
