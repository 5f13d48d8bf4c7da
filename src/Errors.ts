/**
 * The typed errors of this package: the three of `enqueueHttpTask`, the refusal of a
 * received payload, the two outcomes a handler may fail with to steer its retries, and
 * the refusal of a cancellation.
 *
 * Each is a tagged class: `_tag` is its name, `message` is for people, and the
 * other fields are for programs.
 *
 * @since 0.1.0
 */
import { Data, Duration, Schema } from "effect"

/**
 * `@google-cloud/tasks` could not be loaded. It is an optional peer dependency,
 * imported lazily by the cloud-tasks route only; the message says how to install it.
 *
 * @since 0.1.0
 * @category errors
 */
export class ImportError extends Data.TaggedError("ImportError")<{
  readonly message: string
  /** The module that could not be loaded. */
  readonly module: string
  readonly cause?: unknown
}> {}

/**
 * Missing or invalid configuration. `variables` names every offending variable
 * (not only the first), and `message` explains each problem.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly message: string
  /** The offending variables, e.g. `["TASKS_QUEUE", "TASKS_AUTH"]`. */
  readonly variables: ReadonlyArray<string>
}> {}

/**
 * Where a task was headed. `"local"` runs in-process, `"worker"` and `"loopback"`
 * POST to a development server, `"cloud-tasks"` creates a Cloud Task, `"dry-run"`
 * does nothing.
 *
 * @since 0.1.0
 * @category models
 */
export type Route = "dry-run" | "cloud-tasks" | "loopback" | "worker" | "local"

/**
 * Why a task could not be dispatched, for programs to branch on.
 *
 * - `invalid_path`, `invalid_payload`, `payload_too_large`, `invalid_options`:
 *   rejected before anything left the process.
 * - `no_handler`: the application registers handlers, and none for the path.
 * - `shutting_down`: the route's layer is closing or closed; the task was not sent.
 * - `timeout`, `http_error`: the worker or loopback POST missed its deadline, or was
 *   answered with a status other than 2xx (see `status`; a redirect is not followed).
 * - `unreachable`: the endpoint, or Cloud Tasks (`UNAVAILABLE`, after the retries of a
 *   named task), could not be reached.
 * - `cloud_client_failed`: the Cloud Tasks client could not be created.
 * - `already_exists`: a task with this `taskId` exists or ran recently; a caller may
 *   treat it as done.
 * - `create_task_failed`: Cloud Tasks refused the task (see `grpcStatus`).
 *
 * @since 0.1.0
 * @category models
 */
export type DispatchReason =
  | "invalid_path"
  | "invalid_payload"
  | "payload_too_large"
  | "invalid_options"
  | "no_handler"
  | "shutting_down"
  | "timeout"
  | "http_error"
  | "unreachable"
  | "cloud_client_failed"
  | "already_exists"
  | "create_task_failed"

/**
 * The task could not be dispatched. Nothing was dispatched unless `reason` says the
 * remote side refused it.
 *
 * @since 0.1.0
 * @category errors
 */
export class DispatchError extends Data.TaggedError("DispatchError")<{
  readonly message: string
  /** The task path given to `enqueueHttpTask`. */
  readonly path: string
  /** The route that was chosen (validation errors report the route that would have run). */
  readonly route: Route
  readonly reason: DispatchReason
  /** The HTTP status answered by a worker or loopback endpoint. */
  readonly status?: number
  /** The gRPC status code returned by Cloud Tasks (e.g. 6 for ALREADY_EXISTS). */
  readonly grpcStatus?: number
  readonly cause?: unknown
}> {}

/**
 * One problem with a payload: where (`user_id`, `items[0].name`, or `payload` for
 * the whole) and what is wrong, never the value.
 *
 * @since 0.1.0
 * @category models
 */
export interface PayloadIssue {
  readonly path: string
  readonly problem: string
}

/**
 * A received payload refused by its task's Schema. `issues` name each offending
 * field and what was expected, never the value received (it may be private).
 *
 * @since 0.1.0
 * @category errors
 */
export class TaskPayloadError extends Schema.TaggedError<TaskPayloadError>()("TaskPayloadError", {
  message: Schema.String,
  /** The task path. */
  path: Schema.String,
  /** Each problem: the field (`user_id`, `items[0].name`, or `payload`) and what is wrong. */
  issues: Schema.Array(Schema.Struct({ path: Schema.String, problem: Schema.String }))
}) {}

/**
 * A handler's failure that no retry can mend (a payload that will never be valid, an
 * entity that no longer exists): the task is dropped, not retried. Behind the task
 * server it is answered 2xx, since Cloud Tasks retries every other answer, with the
 * error event `tasks.server.dropped`; in-process the task ends as dropped
 * (`tasks.dev.task_dropped`).
 *
 * @example
 * ```ts
 * handleTask(Transcribe, ({ filename }) =>
 *   filename.startsWith("gs://") ? transcribe(filename) : new NonRetryableError({ message: "not a GCS file" }))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class NonRetryableError extends Data.TaggedError("NonRetryableError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * A handler's request to be tried again no sooner than `after` (a rate limit upstream,
 * a resource not ready yet). Behind the task server it is answered 503 with
 * `Retry-After`, which Cloud Tasks honours; in-process the next attempt waits as long.
 * The queue's retry limits still apply.
 *
 * @since 0.1.0
 * @category errors
 */
export class RetryAfterError extends Data.TaggedError("RetryAfterError")<{
  readonly message: string
  /** How long to wait before the next attempt. */
  readonly after: Duration.Duration
  readonly cause?: unknown
}> {
  constructor(args: {
    readonly after: Duration.DurationInput
    readonly message?: string | undefined
    readonly cause?: unknown
  }) {
    const after = Duration.decode(args.after)
    super({
      message: args.message ?? `Retry no sooner than ${Duration.format(after)}`,
      after,
      ...(args.cause === undefined ? {} : { cause: args.cause })
    })
  }
}

/**
 * Why a task could not be cancelled.
 *
 * - `not_found`: no task of that name is waiting (it ran, was cancelled, or never existed).
 * - `not_cancellable`: the route the task took cannot take it back (worker, loopback:
 *   already sent; dry-run: never queued).
 * - `invalid_name`: the name is not one that `enqueueHttpTask` returns.
 * - `cancel_failed`: Cloud Tasks refused the deletion (see `grpcStatus`).
 *
 * @since 0.1.0
 * @category models
 */
export type CancelReason = "not_found" | "not_cancellable" | "invalid_name" | "cancel_failed"

/**
 * A task could not be cancelled.
 *
 * @since 0.1.0
 * @category errors
 */
export class CancelError extends Data.TaggedError("CancelError")<{
  readonly message: string
  /** The task name given to `cancelTask`. */
  readonly name: string
  readonly reason: CancelReason
  /** The gRPC status code returned by Cloud Tasks. */
  readonly grpcStatus?: number
  readonly cause?: unknown
}> {}

/**
 * Cloud Tasks refused or failed an operation of `ensureQueues` (a permission missing,
 * the service unreachable, …). Queues already handled stay as they were made.
 *
 * @since 0.1.0
 * @category errors
 */
export class QueueSyncError extends Data.TaggedError("QueueSyncError")<{
  readonly message: string
  /** The full name of the queue being handled. */
  readonly queue: string
  /** The gRPC status code returned by Cloud Tasks. */
  readonly grpcStatus?: number
  readonly cause?: unknown
}> {}
