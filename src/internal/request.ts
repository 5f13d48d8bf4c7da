/**
 * Turns the arguments of `enqueueHttpTask` into a validated `TaskRequest`, or the
 * reason it is refused. Runs once per call, before a route is chosen.
 */
import { DateTime, Duration, Either, Option } from "effect"
import type { DispatchReason } from "../Errors.js"
import type { EnqueueOptions, TaskRequest } from "../Route.js"
import type { TaskQueue } from "../TaskQueue.js"
import { encodePayload, pathProblem } from "./encode.js"
import { queueSettings } from "./queues.js"
import {
  MAX_DISPATCH_DEADLINE_MS,
  MAX_HEADER_BYTES,
  MAX_SCHEDULE_AHEAD_MS,
  MAX_TASK_BYTES,
  MIN_DISPATCH_DEADLINE_MS,
  SERVICE_RESERVED_HEADER,
  TASK_ID
} from "./limits.js"

/** The long-running transcription paths (transcribe, assemble, process-chunk), whose deadline defaults to 30 minutes. */
export const longRunningPaths: ReadonlySet<string> = new Set([
  "/api/tasks/transcribe",
  "/api/tasks/assemble",
  "/api/tasks/process-chunk"
])

const MIN_DEADLINE = Duration.millis(MIN_DISPATCH_DEADLINE_MS)
const MAX_DEADLINE = Duration.millis(MAX_DISPATCH_DEADLINE_MS)
/** The deadline of the long-running paths, and the headers of a call that gives none: shared by every call. */
const LONG_RUNNING_DEADLINE = Option.some(MAX_DEADLINE)
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({})

const headerNamePattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** Headers this package sets itself on every task. */
const OWN_HEADER = /^(content-type|x-tasks-auth|authorization|traceparent|tracestate)$/i
/** Headers a caller may not set: those Cloud Tasks computes or reserves, and this package's own. */
const isReserved = (name: string) => SERVICE_RESERVED_HEADER.test(name) || OWN_HEADER.test(name)

/** A refusal: the reason, a message naming the problem, and what caused it, if anything. */
export interface Refusal {
  readonly reason: DispatchReason
  readonly message: string
  readonly cause?: unknown
}

const refuse = (reason: DispatchReason, message: string, cause?: unknown): Either.Either<never, Refusal> =>
  Either.left(cause === undefined ? { reason, message } : { reason, message, cause })

/**
 * Turns the payload given to an enqueue into the value sent as JSON: the identity for
 * `enqueueHttpTask`, a Schema's encoding for `enqueueTask`. A failure is a message
 * naming the fields (never their values) and its cause.
 */
export type PayloadEncoder = (payload: unknown) => Either.Either<unknown, { readonly message: string; readonly cause: unknown }>

const headersProblem = (headers: Readonly<Record<string, string>>): string | undefined => {
  let bytes = 0
  for (const [name, value] of Object.entries(headers)) {
    if (!headerNamePattern.test(name)) return `the header name ${JSON.stringify(name)} is not a valid HTTP token`
    if (isReserved(name)) return `the header ${JSON.stringify(name)} is reserved`
    if (typeof value !== "string" || /[\r\n\0]/.test(value)) {
      return `the header ${JSON.stringify(name)} must be a string without CR, LF or NUL`
    }
    bytes += name.length + Buffer.byteLength(value)
  }
  return bytes > MAX_HEADER_BYTES ? "the extra headers exceed 80 KB" : undefined
}

/**
 * Validates one call. `now` is the current time in milliseconds (from effect's Clock).
 */
export const makeTaskRequest = (
  path: string,
  payload: unknown,
  options: EnqueueOptions | undefined,
  now: number,
  encoder?: PayloadEncoder
): Either.Either<TaskRequest, Refusal> => {
  const badPath = pathProblem(path)
  if (badPath !== undefined) return refuse("invalid_path", `Invalid task path ${describePath(path)}: ${badPath}`)
  let value = payload
  if (encoder !== undefined) {
    const encoded = encoder(payload)
    if (Either.isLeft(encoded)) return refuse("invalid_payload", encoded.left.message, encoded.left.cause)
    value = encoded.right
  }
  const encoded = encodePayload(value)
  if (Either.isLeft(encoded)) return refuse("invalid_payload", `Invalid payload for ${path}: ${encoded.left}`)
  const body = encoded.right
  const size = Buffer.byteLength(body)
  if (size > MAX_TASK_BYTES) {
    return refuse(
      "payload_too_large",
      `The payload for ${path} is ${size} bytes of JSON; a task may carry at most ${MAX_TASK_BYTES}`
    )
  }

  let dispatchDeadline: Option.Option<Duration.Duration> = longRunningPaths.has(path)
    ? LONG_RUNNING_DEADLINE
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
  if (Option.isSome(scheduleTime) && scheduleTime.value.getTime() - now > MAX_SCHEDULE_AHEAD_MS) {
    return refuse("invalid_options", "scheduleTime must be at most 30 days ahead")
  }

  const taskId = options?.taskId
  if (taskId !== undefined && (typeof taskId !== "string" || !TASK_ID.test(taskId))) {
    return refuse(
      "invalid_options",
      `taskId ${JSON.stringify(taskId)} must be 1 to 500 letters, digits, hyphens or underscores`
    )
  }

  const headers = options?.headers ?? NO_HEADERS
  // Stryker disable next-line ConditionalExpression: equivalent, checking the empty headers finds no problem (only work)
  const badHeaders = headers === NO_HEADERS ? undefined : headersProblem(headers)
  if (badHeaders !== undefined) return refuse("invalid_options", `Invalid headers for ${path}: ${badHeaders}`)

  let queue: Option.Option<TaskQueue> = Option.none()
  if (options?.queue !== undefined) {
    const given = typeof options.queue === "string" ? { id: options.queue, settings: {} } : options.queue
    const problem = Either.flip(queueSettings(given))
    if (Either.isRight(problem)) return refuse("invalid_options", problem.right)
    queue = Option.some(given)
  }

  return Either.right({
    path,
    body,
    queue,
    dispatchDeadline,
    scheduleTime,
    taskId: Option.fromNullable(taskId),
    headers,
    traceparent: Option.none()
  })
}

/** A path as a message quotes it: a string in quotes, anything else by its type. */
const describePath = (path: unknown): string => (typeof path === "string" ? JSON.stringify(path) : String(typeof path))
