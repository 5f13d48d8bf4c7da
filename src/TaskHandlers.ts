/**
 * The in-process task handlers, keyed by task path.
 *
 * The local route runs them on their own fibers in dev/test; the task server
 * serves the same handlers over HTTP.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import { provideCaptured } from "./internal/captured.js"

/**
 * A task handler: receives the payload as it arrives over HTTP (the JSON-decoded
 * body) and succeeds when the task is done. A failure makes Cloud Tasks retry.
 *
 * @since 0.1.0
 */
export type TaskHandler<R = never> = (payload: unknown) => Effect.Effect<unknown, unknown, R>

/**
 * The registered handlers.
 *
 * @since 0.1.0
 */
export interface TaskHandlersShape {
  readonly handlers: ReadonlyMap<string, TaskHandler>
}

/**
 * The requirements of a record of handlers.
 *
 * @since 0.1.0
 */
export type HandlersContext<H> = {
  [K in keyof H]: H[K] extends (payload: any) => Effect.Effect<any, any, infer R> ? R : never
}[keyof H]

/**
 * The in-process handlers, as a service.
 *
 * @since 0.1.0
 */
export class TaskHandlers extends Context.Tag("effect-http-tasks/TaskHandlers")<TaskHandlers, TaskHandlersShape>() {
  /**
   * Registers handlers by exact task path. An empty record is valid. Services the
   * handlers need are captured when the layer is built, so the handlers themselves
   * have no requirements left.
   *
   * @example
   * ```ts
   * TaskHandlers.layer({
   *   "/api/tasks/transcribe": (payload) => Effect.log("transcribing", payload)
   * })
   * ```
   *
   * @since 0.1.0
   */
  static readonly layer = <H extends Record<string, TaskHandler<any>>>(
    handlers: H
  ): Layer.Layer<TaskHandlers, never, HandlersContext<H>> =>
    Layer.effect(
      this,
      Effect.map(Effect.context<HandlersContext<H>>(), (context) =>
        TaskHandlers.of({
          handlers: new Map(
            Object.entries(handlers).map(([path, handler]): [string, TaskHandler] => [
              path,
              provideCaptured(handler as (payload: unknown) => Effect.Effect<unknown, unknown, HandlersContext<H>>, context)
            ])
          )
        }))
    )
}
