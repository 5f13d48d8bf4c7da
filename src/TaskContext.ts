/**
 * What Cloud Tasks says about the delivery being handled: the task and queue
 * names, how often it was tried, when it was due, and why it is being retried.
 *
 * A handler reads it with `yield* TaskContext`. It needs no layer: the task
 * server provides it for each request it serves (from the Cloud Tasks headers), and
 * the in-process queue of the local route provides the same values Cloud Tasks would
 * send; a worker or loopback POST carries none of them, so there every field is `None`.
 *
 * @example
 * ```ts
 * handleTask(Transcribe, (payload) =>
 *   Effect.gen(function*() {
 *     const task = yield* TaskContext
 *     if (Option.getOrElse(task.retryCount, () => 0) > 5) yield* Effect.logWarning("retried often")
 *   }))
 * ```
 *
 * @since 0.1.0
 */
import { Context, Option } from "effect"

/**
 * The parsed `X-CloudTasks-*` request headers of one delivery. A field is `None`
 * when its header is absent or malformed.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskContextShape {
  /** `X-CloudTasks-TaskName`: the task's short ID (the last segment of its full name). */
  readonly taskName: Option.Option<string>
  /** `X-CloudTasks-QueueName`: the queue's short ID. */
  readonly queueName: Option.Option<string>
  /** `X-CloudTasks-TaskRetryCount`: how many times the task was tried before (every attempt counts). */
  readonly retryCount: Option.Option<number>
  /**
   * `X-CloudTasks-TaskExecutionCount`: how many earlier attempts got a response
   * (attempts answered 5xx do not count; 4xx, 429 and 3xx do).
   */
  readonly executionCount: Option.Option<number>
  /** `X-CloudTasks-TaskETA`: when the task was scheduled to run. */
  readonly eta: Option.Option<Date>
  /** `X-CloudTasks-TaskPreviousResponse`: the HTTP status of the previous attempt. */
  readonly previousResponse: Option.Option<number>
  /** `X-CloudTasks-TaskRetryReason`: why the task is retried (may be present and empty). */
  readonly retryReason: Option.Option<string>
  /**
   * Whether a failure of this attempt ends the task (its queue allows no further
   * retry). Cloud Tasks sends no header for it: the in-process queue knows it, and the
   * task server works it out from the task definition's queue (`defineQueue`) when the
   * request comes from that queue; `None` when it cannot be known.
   */
  readonly lastAttempt: Option.Option<boolean>
}

/**
 * The header names behind each {@link TaskContextShape} field, lower-case.
 *
 * @since 0.1.0
 * @category constants
 */
export const taskContextHeaders = {
  taskName: "x-cloudtasks-taskname",
  queueName: "x-cloudtasks-queuename",
  retryCount: "x-cloudtasks-taskretrycount",
  executionCount: "x-cloudtasks-taskexecutioncount",
  eta: "x-cloudtasks-tasketa",
  previousResponse: "x-cloudtasks-taskpreviousresponse",
  retryReason: "x-cloudtasks-taskretryreason"
} as const

const empty: TaskContextShape = {
  taskName: Option.none(),
  queueName: Option.none(),
  retryCount: Option.none(),
  executionCount: Option.none(),
  eta: Option.none(),
  previousResponse: Option.none(),
  retryReason: Option.none(),
  lastAttempt: Option.none()
}

const count = (value: string | undefined): Option.Option<number> =>
  value !== undefined && /^\s*\d{1,15}\s*$/.test(value) ? Option.some(Number(value)) : Option.none()

const seconds = (value: string | undefined): Option.Option<Date> => {
  if (value === undefined || !/^\s*\d{1,12}(\.\d+)?\s*$/.test(value)) return Option.none()
  const date = new Date(Math.round(Number(value) * 1000))
  return Number.isNaN(date.getTime()) ? Option.none() : Option.some(date)
}

const text = (value: string | undefined): Option.Option<string> => Option.fromNullable(value)

const nonEmpty = (value: string | undefined): Option.Option<string> =>
  Option.filter(Option.fromNullable(value), (value) => value !== "")

/**
 * The Cloud Tasks delivery being handled, as a service with a default: every
 * field `None` outside a Cloud Tasks delivery.
 *
 * @since 0.1.0
 * @category services
 */
export class TaskContext extends Context.Reference<TaskContext>()("effect-http-tasks/TaskContext", {
  defaultValue: (): TaskContextShape => empty
}) {
  /**
   * Parses the `X-CloudTasks-*` headers of a request (keys in any case): counts
   * and the previous response as numbers, the ETA (seconds since the epoch) as a
   * `Date`.
   *
   * @since 0.1.0
   * @category constructors
   */
  static readonly fromHeaders = (headers: Readonly<Record<string, string | undefined>>): TaskContextShape => {
    const lower: Record<string, string | undefined> = {}
    for (const key of Object.keys(headers)) lower[key.toLowerCase()] = headers[key]
    return {
      taskName: nonEmpty(lower[taskContextHeaders.taskName]),
      queueName: nonEmpty(lower[taskContextHeaders.queueName]),
      retryCount: count(lower[taskContextHeaders.retryCount]),
      executionCount: count(lower[taskContextHeaders.executionCount]),
      eta: seconds(lower[taskContextHeaders.eta]),
      previousResponse: count(lower[taskContextHeaders.previousResponse]),
      retryReason: text(lower[taskContextHeaders.retryReason]),
      lastAttempt: Option.none()
    }
  }
}
