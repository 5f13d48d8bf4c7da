/**
 * Typed task definitions: a task's path, its payload `Schema` and its dispatch
 * deadline, written once and used on both sides.
 *
 * - {@link enqueueTask} dispatches a payload of the Schema's type (a type error at
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
import { type Duration, Effect, Layer, ParseResult, Schema } from "effect"
import { type ConfigError, DispatchError, type ImportError } from "./Errors.js"
import { Events } from "./Events.js"
import { provideCaptured } from "./internal/captured.js"
import * as Log from "./internal/log.js"
import {
  describeIssues,
  type PayloadIssue,
  payloadIssues,
  TypedHandlerId,
  type TypedTaskHandler
} from "./internal/server/payload.js"
import type { EnqueueOptions, TaskInfo } from "./Route.js"
import { TaskHandlers } from "./TaskHandlers.js"
import { TasksClient } from "./TasksClient.js"

/**
 * A task written once: the path it is served on, the Schema of its payload
 * (`A` in code, `I` as JSON on the wire) and, optionally, its dispatch deadline.
 *
 * @since 0.1.0
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
}

/**
 * Options of {@link defineTask}.
 *
 * @since 0.1.0
 */
export interface DefineTaskOptions {
  /** The task's dispatch deadline (15 seconds to 30 minutes). */
  readonly dispatchDeadline?: Duration.DurationInput | undefined
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
 */
export const defineTask = <A, I>(
  path: string,
  schema: Schema.Schema<A, I>,
  options: DefineTaskOptions = {}
): TaskDefinition<A, I> => ({ path, schema, dispatchDeadline: options.dispatchDeadline })

/**
 * A payload refused by its task's Schema when it was received. `issues` name each
 * offending field and what was expected, never the value received.
 *
 * @since 0.1.0
 */
export class TaskPayloadError extends Schema.TaggedError<TaskPayloadError>()("TaskPayloadError", {
  message: Schema.String,
  /** The task path. */
  path: Schema.String,
  /** Each problem: the field (`user_id`, `items[0].name`, or `payload`) and what is wrong. */
  issues: Schema.Array(Schema.Struct({ path: Schema.String, problem: Schema.String }))
}) {}

const issuesOf = (error: ParseResult.ParseError): ReadonlyArray<PayloadIssue> => payloadIssues(error.issue)

/**
 * Decodes a received payload (the JSON-parsed body) with the task's Schema.
 *
 * @since 0.1.0
 */
export const decodeTaskPayload = <A, I>(
  definition: TaskDefinition<A, I>,
  body: unknown
): Effect.Effect<A, TaskPayloadError> =>
  Schema.decodeUnknown(definition.schema, { errors: "all" })(body).pipe(
    Effect.mapError((error) => {
      const issues = issuesOf(error)
      return new TaskPayloadError({
        message: `Invalid payload for ${definition.path}: ${describeIssues(issues)}`,
        path: definition.path,
        issues
      })
    })
  )

/**
 * Enqueues a task from its definition: the payload is checked against the
 * definition's Schema at compile time, encoded with it at run time, then handed to
 * `enqueueHttpTask` with the definition's dispatch deadline (the options' own
 * `dispatchDeadline` wins).
 *
 * A payload that fails the Schema at run time is a `DispatchError` with reason
 * `invalid_payload`, and nothing is sent. Its `route` is the one configuration
 * would have chosen.
 *
 * @example
 * ```ts
 * const info = yield* enqueueTask(Transcribe, { filename: "gs://bucket/a.wav", user_id: "123" })
 * ```
 *
 * @since 0.1.0
 */
export const enqueueTask: <A, I>(
  definition: TaskDefinition<A, I>,
  payload: NoInfer<A>,
  options?: EnqueueOptions
) => Effect.Effect<TaskInfo, ImportError | ConfigError | DispatchError, TasksClient> = Effect.fn("enqueueTask")(
  function*<A, I>(definition: TaskDefinition<A, I>, payload: NoInfer<A>, options?: EnqueueOptions) {
    const { path } = definition
    const client = yield* TasksClient
    const encoded = yield* Effect.either(Schema.encode(definition.schema, { errors: "all" })(payload))
    if (encoded._tag === "Left") {
      const message = `Invalid payload for ${path}: ${describeIssues(issuesOf(encoded.left))}`
      yield* Log.info(Events.start, "Enqueueing task", { path })
      yield* Log.error(Events.invalidRequest, message, { path, reason: "invalid_payload" })
      return yield* new DispatchError({
        message,
        path,
        route: client.route(path),
        reason: "invalid_payload",
        cause: encoded.left
      })
    }
    return yield* client.enqueueHttpTask(path, encoded.right, {
      ...options,
      dispatchDeadline: options?.dispatchDeadline ?? definition.dispatchDeadline
    })
  }
)

/**
 * A definition paired with its handler, ready for {@link taskHandlersLayer}.
 *
 * @since 0.1.0
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
 */
export const handleTask = <A, I, R>(
  definition: TaskDefinition<A, I>,
  handler: (payload: A) => Effect.Effect<unknown, unknown, R>
): TaskImplementation<R> => ({ definition, handler })

/**
 * The services the handlers of some implementations need.
 *
 * @since 0.1.0
 */
export type ImplementationContext<T> = T extends TaskImplementation<infer R> ? R : never

/**
 * Builds `TaskHandlers` from typed implementations. Each handler decodes the
 * payload it is given with its definition's Schema (a failure is a
 * {@link TaskPayloadError}) before the typed handler runs; the task server decodes
 * first and answers 422 without running it. Services the handlers need are
 * captured when the layer is built. Two implementations of one path are a defect.
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
 */
export const taskHandlersLayer = <const T extends ReadonlyArray<TaskImplementation<any>>>(
  ...implementations: T
): Layer.Layer<TaskHandlers, never, ImplementationContext<T[number]>> =>
  Layer.effect(
    TaskHandlers,
    Effect.gen(function*() {
      const context = yield* Effect.context<ImplementationContext<T[number]>>()
      const handlers = new Map<string, TypedTaskHandler>()
      for (const { definition, handler } of implementations) {
        if (handlers.has(definition.path)) {
          return yield* Effect.dieMessage(`taskHandlersLayer: two handlers for the task path ${definition.path}`)
        }
        const decode = (body: unknown) => Schema.decodeUnknown(definition.schema, { errors: "all" })(body)
        const typedHandler = handler as (payload: unknown) => Effect.Effect<unknown, unknown, ImplementationContext<T[number]>>
        const run = (payload: unknown) => Effect.provide(typedHandler(payload), context)
        const typed: TypedTaskHandler = Object.assign(
          provideCaptured((body) => Effect.flatMap(decodeTaskPayload(definition, body), typedHandler), context),
          { [TypedHandlerId]: { decode, run } }
        )
        handlers.set(definition.path, typed)
      }
      return TaskHandlers.of({ handlers })
    })
  )

