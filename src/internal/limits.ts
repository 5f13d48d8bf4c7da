/**
 * Every limit, default and name pattern of Cloud Tasks (v2 API, HTTP targets) that this
 * package relies on, defined once: the enqueue validation, the cloud route, queue
 * definitions and the emulator all read them from here.
 *
 * Durations are in milliseconds.
 *
 * @internal
 */

/**
 * The largest task Cloud Tasks accepts, in bytes of the stored task proto (the task as the
 * service keeps it: name, times, the default dispatch deadline, URL, method, headers including
 * the added `User-Agent`, body and token). The documented limit is 1 MB; the observed
 * create/reject boundary of the real service is 1,048,569 bytes (1 MiB - 7).
 */
export const MAX_TASK_BYTES = 1_048_569

/** A task's request headers must be smaller than this (80 KB). */
export const MAX_HEADER_BYTES = 80 * 1024

/** The smallest `dispatchDeadline` of an HTTP task. */
export const MIN_DISPATCH_DEADLINE_MS = 15_000
/** The largest `dispatchDeadline` of an HTTP task. */
export const MAX_DISPATCH_DEADLINE_MS = 1_800_000
/** The `dispatchDeadline` of an HTTP task that sets none. */
export const DEFAULT_DISPATCH_DEADLINE_MS = 600_000

/** How far ahead `scheduleTime` may be. */
export const MAX_SCHEDULE_AHEAD_MS = 30 * 24 * 3_600_000
/** How long a task may live in its queue, retries included, before Cloud Tasks deletes it. */
export const TASK_MAX_LIFETIME_MS = 31 * 24 * 3_600_000

/** A task ID: letters, digits, `-` and `_`, 1 to 500 characters. */
export const TASK_ID = /^[A-Za-z0-9_-]{1,500}$/
/** A queue ID: letters, digits and `-`, 1 to 100 characters. */
export const QUEUE_ID = /^[A-Za-z0-9-]{1,100}$/
/** `projects/<project>/locations/<location>`. */
export const LOCATION_NAME = /^projects\/([A-Za-z0-9:.-]+)\/locations\/([A-Za-z0-9-]+)$/
/** `projects/<project>/locations/<location>/queues/<queue>`. */
export const QUEUE_NAME = /^projects\/([A-Za-z0-9:.-]+)\/locations\/([A-Za-z0-9-]+)\/queues\/([A-Za-z0-9-]{1,100})$/

/** Headers the service computes or reserves: a task's own values for them are dropped. */
export const SERVICE_RESERVED_HEADER = /^(host|content-length|user-agent|x-google-.*|x-appengine-.*|x-cloudtasks-.*)$/i

/** The `User-Agent` the service adds to the stored headers of HTTP tasks and sends with each attempt. */
export const USER_AGENT = "Google-Cloud-Tasks"

/** The `User-Agent` the service adds to the stored headers of App Engine tasks and sends with each attempt. */
export const APP_ENGINE_USER_AGENT = "AppEngine-Google; (+http://code.google.com/appengine)"

/** The `Content-Type` the service stores for an App Engine task with a body and none of its own. */
export const APP_ENGINE_DEFAULT_CONTENT_TYPE = "application/octet-stream"

/** The largest `dispatchDeadline` of an App Engine task (basic and manual scaling allow 24 hours). */
export const MAX_APP_ENGINE_DISPATCH_DEADLINE_MS = 24 * 3_600_000

/** The highest `RateLimits.maxDispatchesPerSecond` of a queue. */
export const MAX_DISPATCHES_PER_SECOND = 500
/** The highest `RateLimits.maxConcurrentDispatches` of a queue. */
export const MAX_CONCURRENT_DISPATCHES = 5000

/** The largest page of `ListQueues` and `ListTasks`; a page size of 0 asks for this many. */
export const MAX_PAGE_SIZE = 1000

/**
 * How long the ID of a named task stays taken after the task ran or was deleted (Cloud Tasks
 * says about 1 hour).
 */
export const TASK_ID_REUSE_MS = 3_600_000
/** How long the name of a deleted queue cannot be used for a new queue (7 days). */
export const QUEUE_NAME_REUSE_MS = 7 * 24 * 3_600_000

/** The settings of a queue created without any. */
export const QUEUE_DEFAULTS = {
  maxDispatchesPerSecond: 500,
  maxConcurrentDispatches: 1000,
  /** `-1` is unlimited. */
  maxAttempts: 100,
  /** `0` is unlimited. */
  maxRetryDurationMs: 0,
  minBackoffMs: 100,
  maxBackoffMs: 3_600_000,
  maxDoublings: 16
} as const
