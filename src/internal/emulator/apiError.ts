/**
 * The errors the emulated Cloud Tasks API returns, with the status codes and messages the
 * real service was observed to return (see `facts/cloud-tasks.md`). Messages the facts file
 * does not record follow the wording of the real service where it is known from published
 * recordings, and are plain descriptions otherwise.
 *
 * @internal
 */
import { Status, type StatusCode } from "./grpcRuntime.js"

/** An API failure: a gRPC status code and its message, returned to the client as is. */
export class ApiError extends Error {
  constructor(readonly code: StatusCode, message: string) {
    super(message)
    this.name = "ApiError"
  }
}

const fail = (code: StatusCode, message: string) => new ApiError(code, message)

/** The messages of the facts file, word for word, and the other messages of the emulator. */
export const Errors = {
  taskAlreadyExists: () => fail(Status.ALREADY_EXISTS, "Requested entity already exists"),
  invalidTaskId: (id: string) =>
    fail(
      Status.INVALID_ARGUMENT,
      `Task ID "${id}" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-), or underscores (_). Task ID must between 1 and 500 characters.`
    ),
  invalidTaskName: () =>
    fail(
      Status.INVALID_ARGUMENT,
      `Task name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>/tasks/<TASK_ID>"`
    ),
  taskQueueMismatch: (parent: string, other: string) =>
    fail(
      Status.INVALID_ARGUMENT,
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
    fail(
      Status.INVALID_ARGUMENT,
      `Queue name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>".`
    ),
  queueParentMismatch: (name: string, parent: string) =>
    fail(Status.INVALID_ARGUMENT, `${name} must begin with ${parent}.`),
  invalidParent: () => fail(Status.INVALID_ARGUMENT, "Invalid resource field value in the request."),
  taskTooLarge: () => fail(Status.INVALID_ARGUMENT, "Task size too large"),
  urlRequired: () => fail(Status.INVALID_ARGUMENT, "HttpRequest.url is required."),
  urlScheme: () => fail(Status.INVALID_ARGUMENT, "HttpTarget.url must start with 'http://' or 'https://'."),
  httpRequestRequired: () =>
    fail(Status.INVALID_ARGUMENT, "The emulator supports HTTP target tasks only: Task.httpRequest is required."),
  dispatchDeadlineRange: (min: string, max: string) =>
    fail(Status.INVALID_ARGUMENT, `Task.dispatchDeadline must be between [${min}, ${max}].`),
  scheduleTooFar: (rendered: string) =>
    fail(
      Status.INVALID_ARGUMENT,
      `The Task.scheduleTime, ${rendered}, is too far in the future. Schedule time must be no more than 720h in the future.`
    ),
  bodyNotAllowed: (method: string) =>
    fail(Status.INVALID_ARGUMENT, `HttpRequest.body can be set only for POST, PUT or PATCH requests, not ${method}.`),
  headersTooLarge: () => fail(Status.INVALID_ARGUMENT, "HttpRequest.headers must be smaller than 80KB."),
  maxDispatchesNegative: () =>
    fail(Status.INVALID_ARGUMENT, "RateLimits.maxDispatchesPerSecond cannot be negative."),
  maxDispatchesTooHigh: () =>
    fail(Status.INVALID_ARGUMENT, "RateLimits.maxDispatchesPerSecond must be less than or equal to 500."),
  maxConcurrentNegative: () =>
    fail(Status.INVALID_ARGUMENT, "RateLimits.maxConcurrentDispatches cannot be negative."),
  maxConcurrentTooHigh: () =>
    fail(Status.INVALID_ARGUMENT, "RateLimits.maxConcurrentDispatches must be less than or equal to 5000."),
  maxAttemptsRange: () => fail(Status.INVALID_ARGUMENT, "RetryConfig.maxAttempts must be greater or equal to -1."),
  maxDoublingsNegative: () => fail(Status.INVALID_ARGUMENT, "RetryConfig.maxDoublings cannot be negative."),
  minBackoffNegative: () => fail(Status.INVALID_ARGUMENT, "RetryConfig.minBackoff cannot be negative."),
  maxBackoffNegative: () => fail(Status.INVALID_ARGUMENT, "RetryConfig.maxBackoff cannot be negative."),
  backoffOrder: () =>
    fail(Status.INVALID_ARGUMENT, "RetryConfig.minBackoff must be less than or equal to RetryConfig.maxBackoff."),
  invalidPageToken: () => fail(Status.INVALID_ARGUMENT, "Invalid page token."),
  invalidPageSize: () => fail(Status.INVALID_ARGUMENT, "The page size must be between 0 and 1000."),
  unsupportedUpdate: (field: string) =>
    fail(Status.INVALID_ARGUMENT, `The update mask path "${field}" is not supported.`)
} as const
