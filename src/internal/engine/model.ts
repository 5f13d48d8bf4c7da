/**
 * The records of the queue engine: queues and tasks as Cloud Tasks stores them, their
 * settings, the inputs of the API that creates and changes them, and the records of delivery
 * attempts and finished tasks that the engine keeps for observation.
 *
 * Times are milliseconds since the epoch, durations milliseconds.
 *
 * @internal
 */
import { QUEUE_DEFAULTS } from "../limits.js"

/** The HTTP methods of `google.cloud.tasks.v2.HttpMethod`. */
export type HttpMethodName = "POST" | "GET" | "HEAD" | "PUT" | "DELETE" | "PATCH" | "OPTIONS"

/** Whether a request with `method` carries a body: only POST, PUT and PATCH do. */
export const methodSendsBody = (method: string): boolean => method === "POST" || method === "PUT" || method === "PATCH"

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
  readonly _tag: "Http"
  readonly url: string
  readonly httpMethod: HttpMethodName
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body: Buffer
  readonly oidcToken: OidcTokenSpec | undefined
  readonly oauthToken: OAuthTokenSpec | undefined
}

/** The `AppEngineRouting` of an App Engine task; empty strings mean the default. */
export interface AppEngineRouting {
  readonly service: string
  readonly version: string
  readonly instance: string
}

/**
 * A task's `AppEngineHttpRequest` as stored: the headers in the caller's order and casing, with
 * the `User-Agent`, `Content-Type` and `Content-Length` the service adds.
 */
export interface StoredAppEngineRequest {
  readonly _tag: "AppEngine"
  readonly relativeUri: string
  readonly routing: AppEngineRouting
  readonly httpMethod: HttpMethodName
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body: Buffer
}

/** What a task delivers: an HTTP request to its URL, or a request to App Engine. */
export type StoredRequest = StoredHttpRequest | StoredAppEngineRequest

/** Whether an App Engine request with `method` carries a body: only POST and PUT do. */
export const appEngineMethodSendsBody = (method: string): boolean => method === "POST" || method === "PUT"

/** One attempt as the API reports it (`google.cloud.tasks.v2.Attempt`). */
export interface AttemptRecord {
  readonly scheduleTime: number | undefined
  readonly dispatchTime: number | undefined
  readonly responseTime: number | undefined
  readonly responseStatus: { readonly code: number; readonly message: string } | undefined
}

/** A stored task and its delivery state. */
export interface StoredTask {
  readonly name: string
  readonly id: string
  /** The ID was given (a named task), not generated. */
  readonly named: boolean
  readonly queueName: string
  readonly request: StoredRequest
  readonly createTime: number
  readonly dispatchDeadlineMs: number
  /** Order of creation, for stable ordering of tasks due at the same time. */
  readonly seq: number
  /** When the next attempt is due (the task's `scheduleTime`). */
  scheduleTime: number
  dispatchCount: number
  responseCount: number
  /**
   * Earlier attempts that count as executions: for HTTP targets those answered with anything
   * but 5xx (4xx, 429 and 3xx included), for App Engine every one.
   */
  executionCount: number
  /** How the previous attempt ended, if there was one. */
  previous: PreviousAttempt | undefined
  firstAttempt: AttemptRecord | undefined
  lastAttempt: AttemptRecord | undefined
  /** When the first attempt was dispatched, for `maxRetryDuration`. */
  firstAttemptAt: number | undefined
  /** An attempt is in flight. */
  running: boolean
  /** Bumped whenever the task is rescheduled or removed, to discard stale entries of the due-time heap. */
  version: number
  /** The task was removed (completed, deleted, purged): the outcome of an attempt in flight is discarded. */
  removed: boolean
}

/** How an attempt ended, as the next attempt's headers report it. */
export type PreviousAttempt =
  | { readonly _tag: "Response"; readonly status: number }
  | { readonly _tag: "DeadlineExceeded" }
  | { readonly _tag: "Failed" }

/** Queue state of `google.cloud.tasks.v2.Queue.State`. */
export type QueueRunState = "RUNNING" | "PAUSED"

/** A queue's `RateLimits`. */
export interface RateSettings {
  readonly maxDispatchesPerSecond: number
  readonly maxConcurrentDispatches: number
}

/** A queue's `RetryConfig`. */
export interface RetrySettings {
  /** Attempts per task; `-1` is unlimited. */
  readonly maxAttempts: number
  /** Time limit for retrying, from the first attempt; `0` is unlimited. */
  readonly maxRetryDurationMs: number
  readonly minBackoffMs: number
  readonly maxBackoffMs: number
  readonly maxDoublings: number
}

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

/** A stored queue and its tasks. */
export interface StoredQueue {
  readonly name: string
  settings: QueueSettings
  state: QueueRunState
  /** When the queue was last purged. */
  purgeTime: number | undefined
  /** The policy of `SetIamPolicy`, returned as is by `GetIamPolicy`. */
  iamPolicy: unknown
  /** The queue's live tasks by full name; replaced by a copy now and then as tasks leave (`Churn`). */
  tasks: Map<string, StoredTask>
}

/** A change to a queue's settings; absent fields stay as they are. */
export interface SettingsPatch {
  readonly maxDispatchesPerSecond?: number
  readonly maxConcurrentDispatches?: number
  readonly maxAttempts?: number
  readonly maxRetryDurationMs?: number
  readonly minBackoffMs?: number
  readonly maxBackoffMs?: number
  readonly maxDoublings?: number
  readonly samplingRatio?: number
}

/** A task as `CreateTask` receives it. */
export interface NewTask {
  /** The full task name, or `""` for a generated ID. */
  readonly name: string
  readonly appEngineHttpRequest?: {
    readonly relativeUri: string
    readonly routing: AppEngineRouting
    readonly httpMethod: HttpMethodName | "HTTP_METHOD_UNSPECIFIED"
    readonly headers: ReadonlyArray<readonly [string, string]>
    readonly body: Buffer
  } | undefined
  readonly httpRequest: {
    readonly url: string
    readonly httpMethod: HttpMethodName | "HTTP_METHOD_UNSPECIFIED"
    readonly headers: ReadonlyArray<readonly [string, string]>
    readonly body: Buffer
    readonly oidcToken: OidcTokenSpec | undefined
    readonly oauthToken: OAuthTokenSpec | undefined
  } | undefined
  /** Absent or `0`: now. */
  readonly scheduleTime: number | undefined
  /** Absent or `0`: the default dispatch deadline. */
  readonly dispatchDeadlineMs: number | undefined
}

/** A page of a listing. */
export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly nextPageToken: string
}

/** One delivery attempt of a task, as it was sent and as it ended. */
export interface DeliveryAttempt {
  /** Full task name. */
  readonly task: string
  /** Full queue name. */
  readonly queue: string
  /** 1 for the first attempt, 2 for the first retry, … */
  readonly attempt: number
  readonly url: string
  readonly method: string
  /** The request headers, names in the casing sent on the wire. */
  readonly headers: Readonly<Record<string, string>>
  /** The request body. */
  readonly body: Uint8Array
  /** The HTTP status the target answered, if it answered. */
  readonly status: number | undefined
  /** Why there was no response (deadline exceeded, connection refused, …). */
  readonly error: string | undefined
  /** The target answered 2xx: the task is done. */
  readonly succeeded: boolean
  readonly startedAt: Date
  readonly endedAt: Date
}

/** How a task left its queue. */
export interface TaskOutcome {
  /** Full task name. */
  readonly task: string
  /** Full queue name. */
  readonly queue: string
  /**
   * `succeeded`: an attempt got a 2xx; `dropped`: an attempt in the same process gave the
   * task up (`NonRetryableError`); `exhausted`: the retry limits were reached;
   * `deleted`: `DeleteTask` or `DeleteQueue`; `purged`: `PurgeQueue`.
   */
  readonly result: "succeeded" | "dropped" | "exhausted" | "deleted" | "purged"
  /** The task's attempts, in order. */
  readonly attempts: ReadonlyArray<DeliveryAttempt>
  /** When it left the queue. */
  readonly at: Date
}

/** Which recorded attempts to read or wait for. */
export interface AttemptFilter {
  /** Only the attempts of this task (full name). */
  readonly task?: string | undefined
  /** Only the attempts of tasks in this queue (full name). */
  readonly queue?: string | undefined
}
