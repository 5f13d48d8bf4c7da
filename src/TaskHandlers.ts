/**
 * The task handlers, keyed by task path: what the local route runs in-process in
 * dev/test, and what the task server serves over HTTP.
 *
 * Each handler is a plain record: how the received JSON becomes the payload
 * (`decode`), what to do with it (`handle`), and the services `handle` runs with,
 * captured when the handlers' layer was built. Both sides run `decode`, then `handle`.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Scope } from "effect"
import type { TaskPayloadError } from "./Errors.js"
import type { TaskQueue } from "./TaskQueue.js"

/**
 * A handler function: receives the payload as it arrives over HTTP (the
 * JSON-decoded body) and succeeds when the task is done. A failure makes Cloud
 * Tasks retry.
 *
 * @since 0.1.0
 * @category models
 */
export type TaskHandlerFunction<R = never> = (payload: unknown) => Effect.Effect<unknown, unknown, R>

/**
 * One registered handler.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskHandler {
  /**
   * Turns the received JSON into the payload `handle` takes: a task definition's
   * Schema decodes it; an untyped handler takes the JSON value as it is.
   */
  readonly decode: (json: unknown) => Effect.Effect<unknown, TaskPayloadError>
  /** Runs the task on a decoded payload, with {@link TaskHandler.services}. */
  readonly handle: (payload: unknown) => Effect.Effect<unknown, unknown, any>
  /** The services `handle` needs, captured when the handlers' layer was built. */
  readonly services: Context.Context<any>
  /**
   * The queue the task definition names, if any: the task server uses its settings to
   * tell a handler whether an attempt is the last.
   */
  readonly queue: TaskQueue | undefined
}

/**
 * The registered handlers.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskHandlersShape {
  readonly handlers: ReadonlyMap<string, TaskHandler>
}

/**
 * The requirements of a record of handler functions.
 *
 * @since 0.1.0
 * @category models
 */
export type HandlersContext<H> = {
  [K in keyof H]: H[K] extends (payload: any) => Effect.Effect<any, any, infer R> ? R : never
}[keyof H]

/**
 * Builds the handlers' layer from `decode` and `handle` per path, capturing the
 * services they need; two handlers for one path are a defect.
 *
 * @internal
 */
export const makeTaskHandlers = <R>(
  entries: Iterable<readonly [path: string, handler: Omit<TaskHandler, "services">]>
): Layer.Layer<TaskHandlers, never, R> =>
  Layer.effect(
    TaskHandlers,
    Effect.gen(function*() {
      // The layer's own scope is not for the handlers: their resources are their own.
      const services = Context.omit(Scope.Scope)(yield* Effect.context<R>())
      const handlers = new Map<string, TaskHandler>()
      for (const [path, { decode, handle, queue }] of entries) {
        if (handlers.has(path)) return yield* Effect.dieMessage(`Two handlers are registered for the task path ${path}`)
        handlers.set(path, { decode, handle, services, queue })
      }
      return TaskHandlers.of({ handlers })
    })
  )

/**
 * The handlers, as a service.
 *
 * @since 0.1.0
 * @category services
 */
export class TaskHandlers extends Context.Tag("effect-http-tasks/TaskHandlers")<TaskHandlers, TaskHandlersShape>() {
  /**
   * Registers handler functions by exact task path; each receives the JSON value as
   * received. An empty record is valid. Services the handlers need are captured
   * when the layer is built, so the handlers themselves have no requirements left.
   * For handlers that receive a payload decoded with a Schema, see `taskHandlersLayer`.
   *
   * @example
   * ```ts
   * TaskHandlers.layer({
   *   "/api/tasks/transcribe": (payload) => Effect.log("transcribing", payload)
   * })
   * ```
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer = <H extends Record<string, TaskHandlerFunction<any>>>(
    handlers: H
  ): Layer.Layer<TaskHandlers, never, HandlersContext<H>> =>
    makeTaskHandlers(
      Object.entries(handlers).map(([path, handle]) => [path, { decode: Effect.succeed, handle, queue: undefined }] as const)
    )
}
