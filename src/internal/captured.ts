/**
 * Handlers keep the services their layer captured. Around a call that is one
 * `Effect.provide`, which sets the fiber's context and restores it after: about
 * twenty steps of the runtime, more than the rest of an in-process dispatch. A
 * handler that runs on a fiber of its own (the local route) needs no restore, so
 * it sets the services once for that fiber's life.
 */
import { Context, Effect, FiberRef } from "effect"
import type { TaskHandler } from "../TaskHandlers.js"

const CapturedId: unique symbol = Symbol.for("effect-http-tasks/CapturedServices")

interface Captured {
  /** The handler before the services were provided. */
  readonly handler: (payload: unknown) => Effect.Effect<unknown, unknown, any>
  readonly context: Context.Context<any>
}

/** `handler` with `context` provided around each call, also keeping both apart for {@link runOnOwnFiber}. */
export const provideCaptured = <R>(
  handler: (payload: unknown) => Effect.Effect<unknown, unknown, R>,
  context: Context.Context<R>
): TaskHandler =>
  Object.assign((payload: unknown) => Effect.provide(handler(payload), context), {
    [CapturedId]: { handler, context } satisfies Captured
  })

/**
 * Runs `handler` as the last work of the current fiber: its captured services are
 * added to the fiber's context without being restored after.
 */
export const runOnOwnFiber = (handler: TaskHandler, payload: unknown): Effect.Effect<unknown, unknown> => {
  const captured = (handler as { readonly [CapturedId]?: Captured })[CapturedId]
  return captured === undefined ? handler(payload) : Effect.zipRight(
    FiberRef.update(FiberRef.currentContext, (parent) => Context.merge(parent, captured.context)),
    captured.handler(payload) as Effect.Effect<unknown, unknown>
  )
}
