/**
 * Typed task definitions: a task's path, its payload `Schema` and its dispatch
 * deadline, written once and used on both sides.
 *
 * - `enqueueTask` dispatches a payload of the Schema's type (a type error at
 *   compile time when it does not fit), encoded with the Schema.
 * - {@link handleTask} and {@link taskHandlersLayer} build the `TaskHandlers` from
 *   handlers that receive the decoded payload, for the local route in dev/test and
 *   for the task server (`effect-http-tasks/server`) in production.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { defineTask, enqueueTask, handleTask, taskHandlersLayer } from "effect-http-tasks"
 *
 * const Transcribe = defineTask("/api/tasks/transcribe", Schema.Struct({
 *   filename: Schema.String,
 *   user_id: Schema.String
 * }))
 *
 * const handlers = taskHandlersLayer(
 *   handleTask(Transcribe, ({ filename }) => Effect.log(`transcribing ${filename}`))
 * )
 *
 * const program = enqueueTask(Transcribe, { filename: "gs://bucket/a.wav", user_id: "123" })
 * ```
 *
 * @since 0.1.0
 */
import { type Duration, Effect, type Layer, Schema } from "effect"
import type { TaskPayloadError } from "./Errors.js"
import { taskPayloadError } from "./internal/payloadIssues.js"
import { makeTaskHandlers, type TaskHandlers } from "./TaskHandlers.js"
import type { TaskQueue } from "./TaskQueue.js"

/**
 * A task written once: the path it is served on, the Schema of its payload
 * (`A` in code, `I` as JSON on the wire) and, optionally, its dispatch deadline.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskDefinition<A, I = A> {
  /** The task path, e.g. `/api/tasks/transcribe`. */
  readonly path: string
  /** The payload Schema: encodes on enqueue, decodes in the handler. */
  readonly schema: Schema.Schema<A, I>
  /**
   * How long the task's HTTP request may take (15 seconds to 30 minutes). Sent as
   * `dispatchDeadline` unless the enqueue options give one.
   */
  readonly dispatchDeadline: Duration.DurationInput | undefined
  /** The queue the task goes to (default `TASKS_QUEUE`), unless the enqueue options give one. */
  readonly queue: TaskQueue | undefined
}

/**
 * Options of {@link defineTask}.
 *
 * @since 0.1.0
 * @category models
 */
export interface DefineTaskOptions {
  /** The task's dispatch deadline (15 seconds to 30 minutes). */
  readonly dispatchDeadline?: Duration.DurationInput | undefined
  /** The task's queue, defined with `defineQueue` (default `TASKS_QUEUE`). */
  readonly queue?: TaskQueue | undefined
}

/**
 * Defines a task: its path, its payload Schema and, optionally, its dispatch deadline.
 * The Schema may transform (e.g. `Schema.DateFromString`): enqueue encodes, the
 * handler receives the decoded value.
 *
 * @example
 * ```ts
 * const Assemble = defineTask(
 *   "/api/tasks/assemble",
 *   Schema.Struct({ episode_id: Schema.String, template_id: Schema.String }),
 *   { dispatchDeadline: "20 minutes" }
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const defineTask = <A, I>(
  path: string,
  schema: Schema.Schema<A, I>,
  options: DefineTaskOptions = {}
): TaskDefinition<A, I> => ({ path, schema, dispatchDeadline: options.dispatchDeadline, queue: options.queue })

/**
 * Decodes a received payload (the JSON-parsed body) with the task's Schema.
 *
 * @since 0.1.0
 * @category utils
 */
export const decodeTaskPayload = <A, I>(
  definition: TaskDefinition<A, I>,
  body: unknown
): Effect.Effect<A, TaskPayloadError> =>
  Effect.mapError(
    Schema.decodeUnknown(definition.schema, { errors: "all" })(body),
    (error) => taskPayloadError(definition.path, error)
  )

/**
 * A definition paired with its handler, ready for {@link taskHandlersLayer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskImplementation<R = never> {
  readonly definition: TaskDefinition<any, any>
  readonly handler: (payload: any) => Effect.Effect<unknown, unknown, R>
}

/**
 * Pairs a definition with the handler that runs it. The handler receives the
 * payload decoded with the definition's Schema; its success acknowledges the task,
 * its failure makes Cloud Tasks retry.
 *
 * @since 0.1.0
 * @category constructors
 */
export const handleTask = <A, I, R>(
  definition: TaskDefinition<A, I>,
  handler: (payload: A) => Effect.Effect<unknown, unknown, R>
): TaskImplementation<R> => ({ definition, handler })

/**
 * The services the handlers of some implementations need.
 *
 * @since 0.1.0
 * @category models
 */
export type ImplementationContext<T> = T extends TaskImplementation<infer R> ? R : never

/**
 * Builds `TaskHandlers` from typed implementations. The payload is decoded with
 * the definition's Schema before the typed handler runs: in-process, a payload the
 * Schema refuses fails the task with a `TaskPayloadError`; the task server answers
 * it 422. Services the handlers need are captured when the layer is built. Two
 * implementations of one path are a defect.
 *
 * @example
 * ```ts
 * const handlers = taskHandlersLayer(
 *   handleTask(Transcribe, ({ filename }) => Effect.log(`transcribing ${filename}`)),
 *   handleTask(Assemble, (payload) => assemble(payload))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const taskHandlersLayer = <const T extends ReadonlyArray<TaskImplementation<any>>>(
  ...implementations: T
): Layer.Layer<TaskHandlers, never, ImplementationContext<T[number]>> =>
  makeTaskHandlers(implementations.map(({ definition, handler }) =>
    [definition.path, {
      decode: (json: unknown) => decodeTaskPayload(definition, json),
      handle: handler,
      queue: definition.queue
    }] as const
  ))
