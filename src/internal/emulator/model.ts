/**
 * The emulator's state: queues and tasks as the service stores them.
 *
 * @internal
 */
import { QUEUE_DEFAULTS } from "../limits.js"
import type { RetrySettings } from "./backoff.js"

/** The HTTP methods of `google.cloud.tasks.v2.HttpMethod`. */
export type HttpMethodName = "POST" | "GET" | "HEAD" | "PUT" | "DELETE" | "PATCH" | "OPTIONS"

/** An `OidcToken` of an HTTP task. */
export interface OidcTokenSpec {
  readonly serviceAccountEmail: string
  readonly audience: string
}

/** An `OAuthToken` of an HTTP task. */
export interface OAuthTokenSpec {
  readonly serviceAccountEmail: string
  readonly scope: string
}

/** A task's `HttpRequest` as stored: headers in the caller's order and casing. */
export interface StoredHttpRequest {
  readonly url: string
  readonly httpMethod: HttpMethodName
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body: Buffer
  readonly oidcToken: OidcTokenSpec | undefined
  readonly oauthToken: OAuthTokenSpec | undefined
}

/** One attempt as the API reports it (`google.cloud.tasks.v2.Attempt`), times in ms. */
export interface AttemptRecord {
  readonly scheduleTime: number | undefined
  readonly dispatchTime: number | undefined
  readonly responseTime: number | undefined
  readonly responseStatus: { readonly code: number; readonly message: string } | undefined
}

/** A stored task and its delivery state. */
export interface TaskState {
  readonly name: string
  readonly id: string
  readonly queueName: string
  readonly request: StoredHttpRequest
  readonly createTime: number
  readonly dispatchDeadlineMs: number
  /** Order of creation, for stable ordering of tasks due at the same time. */
  readonly seq: number
  /** When the next attempt is due (the task's `scheduleTime`), ms since epoch. */
  scheduleTime: number
  dispatchCount: number
  responseCount: number
  /** Earlier attempts that got a response other than 5xx or 429. */
  executionCount: number
  /** The HTTP status of the previous attempt, if it got one. */
  previousResponse: number | undefined
  firstAttempt: AttemptRecord | undefined
  lastAttempt: AttemptRecord | undefined
  /** When the first attempt was dispatched, for `maxRetryDuration`. */
  firstAttemptAt: number | undefined
  /** An attempt is in flight. */
  running: boolean
  /** Bumped whenever the task is rescheduled or removed, to discard stale heap entries. */
  version: number
  /** The task was removed (completed, deleted, purged): in-flight outcomes are discarded. */
  removed: boolean
}

/** A queue's `RateLimits`. */
export interface RateSettings {
  readonly maxDispatchesPerSecond: number
  readonly maxConcurrentDispatches: number
}

/** Queue state of `google.cloud.tasks.v2.Queue.State`. */
export type QueueRunState = "RUNNING" | "PAUSED"

/** The settings of a queue (what `CreateQueue` and `UpdateQueue` set). */
export interface QueueSettings {
  readonly rateLimits: RateSettings
  readonly retryConfig: RetrySettings
  readonly samplingRatio: number
}

/** The settings of a queue created without any, as Cloud Tasks sets them. */
export const DEFAULT_QUEUE_SETTINGS: QueueSettings = {
  rateLimits: {
    maxDispatchesPerSecond: QUEUE_DEFAULTS.maxDispatchesPerSecond,
    maxConcurrentDispatches: QUEUE_DEFAULTS.maxConcurrentDispatches
  },
  retryConfig: {
    maxAttempts: QUEUE_DEFAULTS.maxAttempts,
    maxRetryDurationMs: QUEUE_DEFAULTS.maxRetryDurationMs,
    minBackoffMs: QUEUE_DEFAULTS.minBackoffMs,
    maxBackoffMs: QUEUE_DEFAULTS.maxBackoffMs,
    maxDoublings: QUEUE_DEFAULTS.maxDoublings
  },
  samplingRatio: 0
}
