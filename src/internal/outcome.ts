/**
 * What a handler's exit means, the same in-process and behind the task server: the
 * HTTP status the task server answers (and the in-process queue records, as Cloud Tasks
 * would see it), and whether the queue retries.
 *
 * | exit | status | the queue |
 * |---|---|---|
 * | success | 200 | done |
 * | `NonRetryableError` | 200 | done: the task is dropped, as Cloud Tasks retries any other answer |
 * | `RetryAfterError` | 503 with `Retry-After` | retries no sooner than asked |
 * | `TaskPayloadError` (the payload fails its Schema) | 422 | retries, as Cloud Tasks retries a 4xx |
 * | interrupted | 503 | retries |
 * | any other failure or defect | 500 | retries |
 */
import { Cause, Duration, Exit, Option } from "effect"
import { NonRetryableError, RetryAfterError, TaskPayloadError } from "../Errors.js"

/** A handler's exit, read as the queue reads the answer. */
export type Outcome =
  | { readonly _tag: "Succeeded"; readonly status: 200 }
  | { readonly _tag: "Dropped"; readonly status: 200; readonly error: NonRetryableError }
  | { readonly _tag: "RetryAfter"; readonly status: 503; readonly error: RetryAfterError; readonly retryAfter: string }
  | { readonly _tag: "Refused"; readonly status: 422; readonly error: TaskPayloadError }
  | { readonly _tag: "Interrupted"; readonly status: 503 }
  | { readonly _tag: "Failed"; readonly status: 500; readonly cause: Cause.Cause<unknown> }

/** The outcome of a handler's exit. */
export const outcomeOf = (exit: Exit.Exit<unknown, unknown>): Outcome => {
  if (Exit.isSuccess(exit)) return { _tag: "Succeeded", status: 200 }
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (error instanceof NonRetryableError) return { _tag: "Dropped", status: 200, error }
    if (error instanceof RetryAfterError) {
      // Retry-After counts whole seconds: rounded up, so the retry is never earlier than asked.
      const retryAfter = String(Math.max(0, Math.ceil(Duration.toSeconds(error.after))))
      return { _tag: "RetryAfter", status: 503, error, retryAfter }
    }
    if (error instanceof TaskPayloadError) return { _tag: "Refused", status: 422, error }
  }
  if (Cause.isInterruptedOnly(exit.cause)) return { _tag: "Interrupted", status: 503 }
  return { _tag: "Failed", status: 500, cause: exit.cause }
}
