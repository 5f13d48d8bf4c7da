/**
 * Queues as code: a Cloud Tasks queue's ID with its retry settings and rate limits,
 * written once and used everywhere the queue matters. A task definition names its
 * queue (or `enqueueHttpTask` takes a `queue` option); the cloud route creates the
 * task in that queue; the in-process queue of the local route retries and paces tasks
 * by the same settings; `ensureQueues` and `effect-http-tasks queues sync` create or
 * update the queues in Cloud Tasks (or the emulator) to match.
 *
 * @example
 * ```ts
 * export const Transcription = defineQueue("transcription", {
 *   maxAttempts: 5,
 *   minBackoff: "10 seconds",
 *   maxBackoff: "10 minutes",
 *   maxConcurrentDispatches: 4
 * })
 * ```
 *
 * @since 0.1.0
 */
import type { Duration } from "effect"

/**
 * A queue's retry settings and rate limits, as Cloud Tasks names them; an absent one
 * takes Cloud Tasks' default.
 *
 * @since 0.1.0
 * @category models
 */
export interface QueueSettings {
  /** How many times a task is tried in all, `-1` for no limit. Default 100. */
  readonly maxAttempts?: number | undefined
  /** How long after the first attempt a task may still be retried; 0 for no limit (the default). */
  readonly maxRetryDuration?: Duration.DurationInput | undefined
  /** The first retry's delay. Default 0.1 seconds. */
  readonly minBackoff?: Duration.DurationInput | undefined
  /** The longest delay between retries. Default 1 hour. */
  readonly maxBackoff?: Duration.DurationInput | undefined
  /** How many times the delay doubles before it grows linearly. Default 16. */
  readonly maxDoublings?: number | undefined
  /** Dispatches per second, at most 500 (the default). */
  readonly maxDispatchesPerSecond?: number | undefined
  /** Attempts running at once, at most 5000. Default 1000. */
  readonly maxConcurrentDispatches?: number | undefined
}

/**
 * A queue as code: its ID within `GOOGLE_CLOUD_PROJECT` / `TASKS_LOCATION`, and its settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskQueue {
  /** The queue ID: letters, digits and `-`, 1 to 100 characters. */
  readonly id: string
  readonly settings: QueueSettings
}

/**
 * Defines a queue. Its ID and settings are checked the way Cloud Tasks checks them
 * when the queue is used: an enqueue to a queue with invalid settings is a
 * `DispatchError` (`invalid_options`) naming the setting, and nothing is sent.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defineQueue = (id: string, settings: QueueSettings = {}): TaskQueue => ({ id, settings })
