/**
 * How the engine hands an attempt to whatever runs it: an HTTP client for the emulator, a
 * handler in the same process for a local queue, a script in tests. The engine owns the
 * dispatch deadline: when it passes, the engine calls `abort` and counts the attempt as
 * `DeadlineExceeded`, ignoring whatever the delivery reports afterwards.
 *
 * @internal
 */

/** One attempt of a task. */
export interface DeliveryRequest {
  /** Full task name. */
  readonly task: string
  /** Full queue name. */
  readonly queue: string
  /** 1 for the first attempt, 2 for the first retry, … */
  readonly attempt: number
  readonly url: string
  readonly method: string
  /**
   * The request headers in the order they are sent, names in their casing: `Host`, the task's
   * stored headers, the `X-CloudTasks-*` headers and `Authorization`, and `Content-Length`
   * when the method carries a body.
   */
  readonly headers: ReadonlyArray<readonly [string, string]>
  /** Empty unless the method is POST, PUT or PATCH. */
  readonly body: Buffer
  /** The task's dispatch deadline; the engine enforces it. */
  readonly deadlineMs: number
  /**
   * Whether a failure of this attempt ends the task: its queue allows no further retry
   * (the retry duration is judged at dispatch). Cloud Tasks sends no header for it; a
   * delivery in the same process can tell the handler.
   */
  readonly lastAttempt: boolean
}

/** How an attempt ended. */
export type DeliveryResult =
  /**
   * The target answered; `retryAfter` is its `Retry-After` header. A delivery in the same
   * process may say the task is `dropped` (its handler gave up on it): it then ends as
   * dropped rather than succeeded, and is not retried.
   */
  | {
    readonly _tag: "Response"
    readonly status: number
    readonly retryAfter: string | undefined
    readonly dropped?: boolean | undefined
  }
  /** The target did not answer within the deadline. */
  | { readonly _tag: "DeadlineExceeded" }
  /** The attempt failed without an answer (connection refused, reset, …). */
  | { readonly _tag: "Failed"; readonly message: string }
  /** The attempt was stopped by `abort` (reported without `abort`, it counts as failed). */
  | { readonly _tag: "Aborted" }

/** A running attempt. */
export interface Delivery {
  /** Settles once with how the attempt ended; a rejection counts as `Failed`. */
  readonly result: Promise<DeliveryResult>
  /** Stops the attempt (deadline passed, engine closed); `result` then settles as `Aborted`. */
  readonly abort: () => void
}

/** Starts an attempt. */
export type Deliver = (request: DeliveryRequest) => Delivery
