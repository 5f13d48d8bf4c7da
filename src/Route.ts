/**
 * What every route receives and returns. A route is a service with one
 * `dispatch` function; `TasksClient` validates the call, picks the route from
 * configuration and hands it a {@link TaskRequest}.
 *
 * @since 0.1.0
 */
import type { DateTime, Duration, Effect, Option } from "effect"
import type { CancelError, DispatchError, ImportError, Route } from "./Errors.js"
import type { TaskQueue } from "./TaskQueue.js"

export type { Route } from "./Errors.js"

/**
 * What `enqueueHttpTask` returns: the task's name and the route it took.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskInfo {
  readonly name: string
  readonly route: Route
}

/**
 * Per-call options of `enqueueHttpTask`.
 *
 * @since 0.1.0
 * @category models
 */
export interface EnqueueOptions {
  /**
   * How long the task's HTTP request may take, 15 seconds to 30 minutes.
   * Overrides the per-path default (30 minutes for the three transcription paths,
   * otherwise the route's default of 10 minutes).
   */
  readonly dispatchDeadline?: Duration.DurationInput | undefined
  /**
   * The Cloud Tasks task ID (letters, digits, `-`, `_`; 1 to 500 characters).
   * A second task with the same ID within about an hour fails with
   * `reason: "already_exists"`. See `taskIdFromKey` for deriving one.
   */
  readonly taskId?: string | undefined
  /** When the task should run, at most 30 days ahead. Not with `delay`. */
  readonly scheduleTime?: Date | DateTime.DateTime | undefined
  /** How long from now the task should run. Not with `scheduleTime`. */
  readonly delay?: Duration.DurationInput | undefined
  /**
   * Extra HTTP headers for the task's request. `Host`, `Content-Length`,
   * `User-Agent`, `Content-Type`, `X-Tasks-Auth`, `Authorization`, `traceparent`,
   * `tracestate`, `X-Google-*`, `X-AppEngine-*` and `X-CloudTasks-*` are reserved.
   */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /**
   * The queue of the task: a queue defined with `defineQueue` (whose settings the
   * in-process queue honours), or a queue ID. Default: `TASKS_QUEUE`, or the task
   * definition's queue for `enqueueTask`.
   */
  readonly queue?: TaskQueue | string | undefined
}

/**
 * A validated task, as a route receives it.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskRequest {
  readonly path: string
  /** The payload encoded as JSON. */
  readonly body: string
  /** The dispatch deadline; `None` leaves the route's default. */
  readonly dispatchDeadline: Option.Option<Duration.Duration>
  readonly scheduleTime: Option.Option<Date>
  readonly taskId: Option.Option<string>
  readonly headers: Readonly<Record<string, string>>
  /** The task's queue; `None` is the default queue, `TASKS_QUEUE`. */
  readonly queue: Option.Option<TaskQueue>
  /**
   * The W3C `traceparent` of the enqueue's span, for the task's request to continue
   * its trace; `None` for routes that do not leave the process.
   */
  readonly traceparent: Option.Option<string>
}

/**
 * The service shape every route implements.
 *
 * @since 0.1.0
 * @category models
 */
export interface RouteShape {
  readonly dispatch: (request: TaskRequest) => Effect.Effect<TaskInfo, DispatchError | ImportError>
  /** Cancels a task this route created, by the name its `TaskInfo` gave; routes that cannot take a task back have none. */
  readonly cancel?: ((name: string) => Effect.Effect<void, CancelError | ImportError>) | undefined
}
