/**
 * Turns the arguments of `enqueueHttpTask` into a validated `TaskRequest`, or the
 * reason it is refused. Runs once per call, before a route is chosen.
 */
import { Clock, Context, DateTime, Duration, Either, type Fiber, Option } from "effect"
import type { DispatchReason } from "../Errors.js"
import type { EnqueueOptions, TaskRequest } from "../Route.js"
import { encodePayload, pathProblem } from "./encode.js"
import { MAX_TASK_BYTES } from "./limits.js"

/** The seed's long-running task paths, whose deadline defaults to 30 minutes. */
export const longRunningPaths: ReadonlySet<string> = new Set([
  "/api/tasks/transcribe",
  "/api/tasks/assemble",
  "/api/tasks/process-chunk"
])

export const MIN_DEADLINE = Duration.seconds(15)
export const MAX_DEADLINE = Duration.minutes(30)
export const DEFAULT_DEADLINE = Duration.minutes(10)
const MAX_SCHEDULE_AHEAD = Duration.days(30)
const MAX_HEADER_BYTES = 80 * 1024

const taskIdPattern = /^[A-Za-z0-9_-]{1,500}$/
const headerNamePattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const reservedHeader = /^(host|content-length|content-type|x-tasks-auth|authorization|traceparent|tracestate|x-google-.*|x-appengine-.*|x-cloudtasks-.*)$/i

/** A refusal: the reason and a message naming the problem. */
export interface Refusal {
  readonly reason: DispatchReason
  readonly message: string
}

const refuse = (reason: DispatchReason, message: string): Either.Either<never, Refusal> =>
  Either.left({ reason, message })

const headersProblem = (headers: Readonly<Record<string, string>>): string | undefined => {
  let bytes = 0
  for (const [name, value] of Object.entries(headers)) {
    if (!headerNamePattern.test(name)) return `the header name ${JSON.stringify(name)} is not a valid HTTP token`
    if (reservedHeader.test(name)) return `the header ${JSON.stringify(name)} is reserved`
    if (typeof value !== "string" || /[\r\n\0]/.test(value)) {
      return `the header ${JSON.stringify(name)} must be a string without CR, LF or NUL`
    }
    bytes += name.length + Buffer.byteLength(value)
  }
  return bytes > MAX_HEADER_BYTES ? "the extra headers exceed 80 KB" : undefined
}

/** The time in milliseconds on the fiber's Clock (a TestClock in tests), read without a step of the runtime. */
export const currentTimeMillis = (fiber: Fiber.RuntimeFiber<unknown, unknown>): number =>
  Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()

/**
 * Validates one call. `now` is the current time in milliseconds (from effect's Clock).
 */
export const makeTaskRequest = (
  path: string,
  payload: unknown,
  options: EnqueueOptions | undefined,
  now: number
): Either.Either<TaskRequest, Refusal> => {
  const badPath = pathProblem(path)
  if (badPath !== undefined) return refuse("invalid_path", `Invalid task path ${JSON.stringify(path)}: ${badPath}`)
  const encoded = encodePayload(payload)
  if (Either.isLeft(encoded)) return refuse("invalid_payload", `Invalid payload for ${path}: ${encoded.left}`)
  const body = encoded.right
  const size = Buffer.byteLength(body)
  if (size > MAX_TASK_BYTES) {
    return refuse("payload_too_large", `The payload for ${path} is ${size} bytes of JSON; a task may carry at most ${MAX_TASK_BYTES}`)
  }

  let dispatchDeadline: Option.Option<Duration.Duration> = longRunningPaths.has(path)
    ? Option.some(MAX_DEADLINE)
    : Option.none()
  if (options?.dispatchDeadline !== undefined) {
    const deadline = Duration.decodeUnknown(options.dispatchDeadline)
    if (
      Option.isNone(deadline) || Duration.lessThan(deadline.value, MIN_DEADLINE) ||
      Duration.greaterThan(deadline.value, MAX_DEADLINE)
    ) {
      return refuse("invalid_options", "dispatchDeadline must be between 15 seconds and 30 minutes")
    }
    dispatchDeadline = deadline
  }

  let scheduleTime: Option.Option<Date> = Option.none()
  if (options?.scheduleTime !== undefined && options.delay !== undefined) {
    return refuse("invalid_options", "give scheduleTime or delay, not both")
  }
  if (options?.delay !== undefined) {
    const delay = Duration.decodeUnknown(options.delay)
    if (Option.isNone(delay) || !Duration.isFinite(delay.value)) {
      return refuse("invalid_options", "delay must be a finite duration")
    }
    scheduleTime = Option.some(new Date(now + Duration.toMillis(delay.value)))
  } else if (options?.scheduleTime !== undefined) {
    const at = options.scheduleTime instanceof Date
      ? options.scheduleTime
      : DateTime.isDateTime(options.scheduleTime)
      ? DateTime.toDate(options.scheduleTime)
      : new Date(NaN)
    if (Number.isNaN(at.getTime())) return refuse("invalid_options", "scheduleTime must be a valid Date or DateTime")
    scheduleTime = Option.some(at)
  }
  if (Option.isSome(scheduleTime) && scheduleTime.value.getTime() - now > Duration.toMillis(MAX_SCHEDULE_AHEAD)) {
    return refuse("invalid_options", "scheduleTime must be at most 30 days ahead")
  }

  const taskId = options?.taskId
  if (taskId !== undefined && !taskIdPattern.test(taskId)) {
    return refuse(
      "invalid_options",
      `taskId ${JSON.stringify(taskId)} must be 1 to 500 letters, digits, hyphens or underscores`
    )
  }

  const headers = options?.headers ?? {}
  const badHeaders = headersProblem(headers)
  if (badHeaders !== undefined) return refuse("invalid_options", `Invalid headers for ${path}: ${badHeaders}`)

  return Either.right({
    path,
    body,
    dispatchDeadline,
    scheduleTime,
    taskId: Option.fromNullable(taskId),
    headers
  })
}
