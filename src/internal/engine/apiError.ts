/**
 * The errors the Cloud Tasks API returns, with the status codes and the messages the real
 * service was observed to return. Where the service's wording is not known, the message is a
 * plain description.
 *
 * The status codes are the gRPC ones (`google.rpc.Code`), defined here so that the engine
 * does not depend on a gRPC runtime.
 *
 * @internal
 */
import {
  MAX_CONCURRENT_DISPATCHES,
  MAX_DISPATCHES_PER_SECOND,
  MAX_HEADER_BYTES,
  MAX_PAGE_SIZE,
  MAX_SCHEDULE_AHEAD_MS
} from "../limits.js"

/** The status codes of `google.rpc.Code` (the gRPC status codes). */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16
} as const

/** A status code. */
export type StatusCode = (typeof Status)[keyof typeof Status]

/**
 * A detail of an API failure (`google.rpc.Status.details`), as the service attaches them: a
 * link to the definition of the offending field, the machine-readable reason, a localized
 * message.
 */
export type ErrorDetail =
  | {
    readonly _tag: "Help"
    readonly links: ReadonlyArray<{ readonly description: string; readonly url: string }>
  }
  | {
    readonly _tag: "ErrorInfo"
    readonly reason: string
    readonly domain: string
    readonly metadata: Readonly<Record<string, string>>
  }
  | { readonly _tag: "LocalizedMessage"; readonly locale: string; readonly message: string }

/** An API failure: a status code, its message and details, returned to the client as is. */
export class ApiError extends Error {
  constructor(readonly code: StatusCode, message: string, readonly details: ReadonlyArray<ErrorDetail> = []) {
    super(message)
    this.name = "ApiError"
  }
}

const fail = (code: StatusCode, message: string, details?: ReadonlyArray<ErrorDetail>) =>
  new ApiError(code, message, details)
const invalid = (message: string, details?: ReadonlyArray<ErrorDetail>) => fail(Status.INVALID_ARGUMENT, message, details)

const REFERENCE = "https://cloud.google.com/tasks/docs/reference/rest/v2"

const help = (description: string, url: string): ErrorDetail => ({ _tag: "Help", links: [{ description, url }] })

/**
 * The project a malformed parent names, as the service reads it: the segment after
 * `projects/`, or the whole parent when it does not start with one.
 */
const projectOf = (parent: string): string => /^projects\/([^/]+)/.exec(parent)?.[1] ?? parent

/** The messages of the real service, word for word where known. */
export const Errors = {
  taskAlreadyExists: () => fail(Status.ALREADY_EXISTS, "Requested entity already exists"),
  invalidTaskId: (id: string) =>
    invalid(
      `Task ID "${id}" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-), or underscores (_). Task ID must between 1 and 500 characters.`,
      [help("Definition of task ID", `${REFERENCE}/projects.locations.queues.tasks#Task.FIELDS.name`)]
    ),
  invalidTaskName: () =>
    invalid(
      `Task name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>/tasks/<TASK_ID>"`
    ),
  taskQueueMismatch: (parent: string, other: string) =>
    invalid(
      `The queue name from request ('${parent}') must be the same as the queue name in the named task ('${other}').`
    ),
  queueNotFound: () =>
    fail(
      Status.NOT_FOUND,
      "Queue does not exist. If you just created the queue, wait at least a minute for the queue to initialize."
    ),
  entityNotFound: () => fail(Status.NOT_FOUND, "Requested entity was not found."),
  taskExistedRecently: () =>
    fail(
      Status.NOT_FOUND,
      "The task no longer exists, though a task with this name existed recently. The task either successfully completed or was deleted."
    ),
  queueAlreadyExists: () => fail(Status.ALREADY_EXISTS, "Queue already exists"),
  queueExistedRecently: () =>
    fail(
      Status.FAILED_PRECONDITION,
      "The queue cannot be created because a queue with this name existed too recently."
    ),
  invalidQueueName: () =>
    invalid(`Queue name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>".`, [
      help("Definition of queue name", `${REFERENCE}/projects.locations.queues#Queue.FIELDS.name`)
    ]),
  queueParentMismatch: (name: string, parent: string) => invalid(`${name} must begin with ${parent}.`),
  /** A parent that is not `projects/<p>/locations/<l>`: the service reads it as a project it may not use. */
  invalidParent: (parent: string) => {
    const project = projectOf(parent)
    const message = `Permission denied on resource project ${project}.`
    return fail(Status.PERMISSION_DENIED, message, [
      {
        _tag: "ErrorInfo",
        reason: "CONSUMER_INVALID",
        domain: "googleapis.com",
        metadata: { consumer: `projects/${project}`, containerInfo: project, service: "cloudtasks.googleapis.com" }
      },
      { _tag: "LocalizedMessage", locale: "en-US", message },
      help("Google developers console", "https://console.developers.google.com")
    ])
  },
  taskTooLarge: () => invalid("Task size too large"),
  urlRequired: () => invalid("HttpRequest.url is required."),
  urlScheme: () => invalid("HttpTarget.url must start with 'http://' or 'https://'."),
  targetRequired: () => invalid("Task.httpRequest or Task.appEngineHttpRequest is required."),
  relativeUri: () => invalid("AppEngineHttpRequest.relativeUri must begin with a slash (/)."),
  appEngineBodyNotAllowed: (method: string) =>
    invalid(`AppEngineHttpRequest.body can be set only for POST or PUT requests, not ${method}.`),
  dispatchDeadlineRange: (min: string, max: string) => invalid(`Task.dispatchDeadline must be between [${min}, ${max}].`),
  scheduleTooFar: (rendered: string) =>
    invalid(
      `The Task.scheduleTime, ${rendered}, is too far in the future. Schedule time must be no more than ${
        MAX_SCHEDULE_AHEAD_MS / 3_600_000
      }h in the future.`
    ),
  bodyNotAllowed: (method: string) =>
    invalid(`HttpRequest.body can be set only for POST, PUT or PATCH requests, not ${method}.`),
  headersTooLarge: () => invalid(`HttpRequest.headers must be smaller than ${MAX_HEADER_BYTES / 1024}KB.`),
  maxDispatchesNegative: () => invalid("RateLimits.maxDispatchesPerSecond cannot be negative."),
  maxDispatchesTooHigh: () =>
    invalid(`RateLimits.maxDispatchesPerSecond must be less than or equal to ${MAX_DISPATCHES_PER_SECOND}.`),
  maxConcurrentNegative: () => invalid("RateLimits.maxConcurrentDispatches cannot be negative."),
  maxConcurrentTooHigh: () =>
    invalid(`RateLimits.maxConcurrentDispatches must be less than or equal to ${MAX_CONCURRENT_DISPATCHES}.`),
  maxAttemptsRange: () => invalid("RetryConfig.maxAttempts must be greater or equal to -1."),
  maxDoublingsNegative: () => invalid("RetryConfig.maxDoublings cannot be negative."),
  minBackoffNegative: () => invalid("RetryConfig.minBackoff cannot be negative."),
  maxBackoffNegative: () => invalid("RetryConfig.maxBackoff cannot be negative."),
  backoffOrder: () => invalid("RetryConfig.minBackoff must be less than or equal to RetryConfig.maxBackoff."),
  invalidPageToken: () => invalid("Invalid page token."),
  invalidPageSize: () => invalid(`The page size must be between 0 and ${MAX_PAGE_SIZE}.`),
  unsupportedUpdate: (field: string) => invalid(`The update mask path "${field}" is not supported.`)
} as const

const STATUS_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(Status).map(([name, code]) => [code, name])
)

/** The name of a status code (`NOT_FOUND` for 5). */
export const statusName = (code: number): string => STATUS_NAMES[code] ?? "UNKNOWN"

/** An attempt's `responseStatus`: a status code and the message Cloud Tasks writes with it. */
export interface ResponseStatus {
  readonly code: number
  readonly message: string
}

/** The status Cloud Tasks records on an attempt that got the HTTP status `status`. */
export const statusForHttp = (status: number): ResponseStatus => {
  const code = status >= 200 && status < 300
    ? Status.OK
    : status === 400
    ? Status.INVALID_ARGUMENT
    : status === 401
    ? Status.UNAUTHENTICATED
    : status === 403
    ? Status.PERMISSION_DENIED
    : status === 404
    ? Status.NOT_FOUND
    : status === 409
    ? Status.ABORTED
    : status === 429
    ? Status.RESOURCE_EXHAUSTED
    : status === 499
    ? Status.CANCELLED
    : status === 501
    ? Status.UNIMPLEMENTED
    : status === 503
    ? Status.UNAVAILABLE
    : status === 504
    ? Status.DEADLINE_EXCEEDED
    : status >= 400 && status < 500
    ? Status.FAILED_PRECONDITION
    : status >= 500 && status < 600
    ? Status.INTERNAL
    : Status.UNKNOWN
  return { code, message: `${STATUS_NAMES[code]}(${code}): HTTP status code ${status}` }
}
