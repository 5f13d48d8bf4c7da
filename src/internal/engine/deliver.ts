/**
 * How the engine hands an attempt to whatever runs it: an HTTP client for the emulator, a
 * handler in the same process for a local queue, a script in tests. The delivery reports
 * how the attempt ended through a callback, once. The engine owns the dispatch deadline:
 * when it passes, the engine calls `abort` and counts the attempt as `DeadlineExceeded`,
 * ignoring whatever the delivery reports afterwards.
 *
 * @internal
 */

/**
 * What Cloud Tasks tells the target about an attempt (the `X-CloudTasks-*` headers of an
 * HTTP task, `X-AppEngine-*` of an App Engine task), as values.
 */
export interface AttemptContext {
  /** The short queue ID. */
  readonly queueId: string
  /** The short task ID. */
  readonly taskId: string
  /** Every earlier attempt. */
  readonly retryCount: number
  /** The earlier attempts that count as executions. */
  readonly executionCount: number
  /** When the attempt was due, ms since the epoch. */
  readonly etaMs: number
  /** The previous attempt's response as the header gives it, if the header is sent. */
  readonly previousResponse: string | undefined
  /** The retry reason as the header gives it, if the header is sent (it may be empty). */
  readonly retryReason: string | undefined
}

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
   * when the method carries a body. Built when first read: a delivery in the same process
   * reads {@link DeliveryRequest.context} instead.
   */
  readonly headers: ReadonlyArray<readonly [string, string]>
  /** What the Cloud Tasks headers say, as values. */
  readonly context: AttemptContext
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
  /** Stops the attempt (deadline passed, engine closed); what it reports afterwards is ignored. */
  readonly abort: () => void
}

/**
 * Starts an attempt; `done` is called once with how it ended (a call during `deliver`
 * itself is taken after it returns). A delivery that throws counts as `Failed`.
 */
export type Deliver = (request: DeliveryRequest, done: (result: DeliveryResult) => void) => Delivery
