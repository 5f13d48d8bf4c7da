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
import { Duration, Effect, Either, Option } from "effect"
import { ConfigError, type ImportError, QueueSyncError } from "./Errors.js"
import { Events } from "./Events.js"
import { errorText, grpcCode, loadCloudClient } from "./internal/cloudClient.js"
import type { SettingsPatch } from "./internal/engine/model.js"
import { QUEUE_DEFAULTS } from "./internal/limits.js"
import * as Log from "./internal/log.js"
import { queueSettings } from "./internal/queues.js"
import { TasksConfig } from "./TasksConfig.js"

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

/**
 * One setting of a queue that `ensureQueues` found different from its definition.
 *
 * @since 0.1.0
 * @category models
 */
export interface QueueChange {
  /** The setting, as `defineQueue` names it (`maxAttempts`, `minBackoff`, …). */
  readonly setting: string
  /** Its value in Cloud Tasks (durations in milliseconds). */
  readonly from: number
  /** Its value in the definition, Cloud Tasks' default where the definition sets none. */
  readonly to: number
}

/**
 * What `ensureQueues` did, or would do in a dry run, for one queue.
 *
 * @since 0.1.0
 * @category models
 */
export interface QueueSync {
  /** The queue's full name, `projects/<p>/locations/<l>/queues/<id>`. */
  readonly queue: string
  readonly action: "create" | "update" | "unchanged"
  /** For `update`: the settings that differ. */
  readonly changes: ReadonlyArray<QueueChange>
  /** False in a dry run: nothing was changed. */
  readonly applied: boolean
}

/** Each setting: its name in `defineQueue`, its field path in the API, and where it sits in a queue message. */
const SETTINGS = [
  ["maxDispatchesPerSecond", "rate_limits.max_dispatches_per_second", "rate"],
  ["maxConcurrentDispatches", "rate_limits.max_concurrent_dispatches", "rate"],
  ["maxAttempts", "retry_config.max_attempts", "retry"],
  ["maxRetryDuration", "retry_config.max_retry_duration", "retry"],
  ["minBackoff", "retry_config.min_backoff", "retry"],
  ["maxBackoff", "retry_config.max_backoff", "retry"],
  ["maxDoublings", "retry_config.max_doublings", "retry"]
] as const

type Setting = (typeof SETTINGS)[number][0]

/** The definition's settings, Cloud Tasks' defaults where it sets none; durations in milliseconds. */
const wanted = (patch: SettingsPatch): Record<Setting, number> => ({
  maxDispatchesPerSecond: patch.maxDispatchesPerSecond ?? QUEUE_DEFAULTS.maxDispatchesPerSecond,
  maxConcurrentDispatches: patch.maxConcurrentDispatches ?? QUEUE_DEFAULTS.maxConcurrentDispatches,
  maxAttempts: patch.maxAttempts ?? QUEUE_DEFAULTS.maxAttempts,
  maxRetryDuration: patch.maxRetryDurationMs ?? QUEUE_DEFAULTS.maxRetryDurationMs,
  minBackoff: patch.minBackoffMs ?? QUEUE_DEFAULTS.minBackoffMs,
  maxBackoff: patch.maxBackoffMs ?? QUEUE_DEFAULTS.maxBackoffMs,
  maxDoublings: patch.maxDoublings ?? QUEUE_DEFAULTS.maxDoublings
})

interface WireDuration {
  readonly seconds?: number | string | { toString(): string } | null
  readonly nanos?: number | null
}
interface WireQueue {
  readonly rateLimits?: { readonly maxDispatchesPerSecond?: number | null; readonly maxConcurrentDispatches?: number | null } | null
  readonly retryConfig?: {
    readonly maxAttempts?: number | null
    readonly maxRetryDuration?: WireDuration | null
    readonly minBackoff?: WireDuration | null
    readonly maxBackoff?: WireDuration | null
    readonly maxDoublings?: number | null
  } | null
}

const toMillis = (duration: WireDuration | null | undefined): number =>
  duration == null ? 0 : Number(String(duration.seconds ?? 0)) * 1000 + (duration.nanos ?? 0) / 1e6

const toDuration = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: Math.round((ms % 1000) * 1e6) })

/** The settings of a queue as Cloud Tasks returns it. */
const live = (queue: WireQueue): Record<Setting, number> => ({
  maxDispatchesPerSecond: queue.rateLimits?.maxDispatchesPerSecond ?? 0,
  maxConcurrentDispatches: queue.rateLimits?.maxConcurrentDispatches ?? 0,
  maxAttempts: queue.retryConfig?.maxAttempts ?? 0,
  maxRetryDuration: toMillis(queue.retryConfig?.maxRetryDuration),
  minBackoff: toMillis(queue.retryConfig?.minBackoff),
  maxBackoff: toMillis(queue.retryConfig?.maxBackoff),
  maxDoublings: queue.retryConfig?.maxDoublings ?? 0
})

/** A queue message with `settings`. */
const message = (name: string, settings: Record<Setting, number>) => ({
  name,
  rateLimits: {
    maxDispatchesPerSecond: settings.maxDispatchesPerSecond,
    maxConcurrentDispatches: settings.maxConcurrentDispatches
  },
  retryConfig: {
    maxAttempts: settings.maxAttempts,
    maxRetryDuration: toDuration(settings.maxRetryDuration),
    minBackoff: toDuration(settings.minBackoff),
    maxBackoff: toDuration(settings.maxBackoff),
    maxDoublings: settings.maxDoublings
  }
})

const NOT_FOUND = 5
const ALREADY_EXISTS = 6

/**
 * Makes the queues in Cloud Tasks (or the emulator at `CLOUD_TASKS_EMULATOR_HOST`) match
 * their definitions: a missing queue is created, a queue whose settings differ is
 * updated (a setting the definition leaves out is set to Cloud Tasks' default, as the
 * in-process queue uses it), and nothing is ever deleted. With `dryRun` it only reports
 * what it would do. The queues are in `GOOGLE_CLOUD_PROJECT` / `TASKS_LOCATION`; each
 * change is logged (`tasks.queues.created`, `tasks.queues.updated`).
 *
 * @example
 * ```ts
 * const report = yield* ensureQueues([Transcription, Email])
 * // [{ queue: "projects/p/locations/l/queues/transcription", action: "update",
 * //    changes: [{ setting: "maxAttempts", from: 100, to: 5 }], applied: true }, …]
 * ```
 *
 * @since 0.1.0
 * @category provisioning
 */
export const ensureQueues = (
  queues: Iterable<TaskQueue>,
  options: { readonly dryRun?: boolean | undefined } = {}
): Effect.Effect<ReadonlyArray<QueueSync>, ConfigError | ImportError | QueueSyncError, TasksConfig> =>
  Effect.gen(function*() {
    const config = yield* TasksConfig
    const definitions = Array.from(queues)
    const problems = definitions.flatMap((queue) =>
      Either.match(queueSettings(queue), { onLeft: (problem) => [problem], onRight: () => [] })
    )
    if (Option.isNone(config.location) || problems.length > 0) {
      const missing = Option.isNone(config.location) ? ["GOOGLE_CLOUD_PROJECT and TASKS_LOCATION are required"] : []
      return yield* new ConfigError({
        message: `Cannot sync the queues: ${[...missing, ...problems].join("; ")}`,
        variables: Option.isNone(config.location) ? ["GOOGLE_CLOUD_PROJECT", "TASKS_LOCATION"] : []
      })
    }
    const parent = `projects/${config.location.value.project}/locations/${config.location.value.location}`
    const { client } = yield* Effect.acquireRelease(
      loadCloudClient(config, "ensureQueues", {}).pipe(
        Effect.catchTag("UnknownException", (error) =>
          new QueueSyncError({ message: `Could not create the CloudTasksClient: ${error.message}`, queue: parent, cause: error.error }))
      ),
      ({ client }) => Effect.promise(() => client.close())
    )
    const call = <A>(queue: string, what: string, run: () => Promise<A>) =>
      Effect.tryPromise({
        try: run,
        catch: (cause) => {
          const grpcStatus = grpcCode(cause)
          return new QueueSyncError({
            message: `Could not ${what} ${queue}: ${errorText(cause)}`,
            queue,
            ...(grpcStatus === undefined ? {} : { grpcStatus }),
            cause
          })
        }
      })

    const results: Array<QueueSync> = []
    for (const definition of definitions) {
      const name = `${parent}/queues/${definition.id}`
      const target = wanted(Either.getOrThrow(queueSettings(definition)))
      const existing = yield* call(name, "read", () => client.getQueue({ name })).pipe(
        Effect.map(([queue]) => Option.some(queue as WireQueue)),
        Effect.catchIf((error) => error.grpcStatus === NOT_FOUND, () => Effect.succeed(Option.none<WireQueue>()))
      )
      if (Option.isNone(existing)) {
        if (options.dryRun !== true) {
          yield* call(name, "create", () => client.createQueue({ parent, queue: message(name, target) })).pipe(
            Effect.catchIf((error) => error.grpcStatus === ALREADY_EXISTS, () => Effect.void)
          )
          yield* Log.info(Events.queueCreated, `Created the queue ${name}`, { queue: name })
        }
        results.push({ queue: name, action: "create", changes: [], applied: options.dryRun !== true })
        continue
      }
      const current = live(existing.value)
      const changes = SETTINGS.filter(([setting]) => current[setting] !== target[setting])
        .map(([setting]) => ({ setting, from: current[setting], to: target[setting] }))
      if (changes.length > 0 && options.dryRun !== true) {
        const paths = SETTINGS.filter(([setting]) => changes.some((change) => change.setting === setting)).map(([, path]) => path)
        yield* call(name, "update", () => client.updateQueue({ queue: message(name, target), updateMask: { paths } }))
        yield* Log.info(Events.queueUpdated, `Updated the queue ${name}`, {
          queue: name,
          changes: changes.map(({ from, setting, to }) => `${setting}:${from}->${to}`).join(",")
        })
      }
      results.push({
        queue: name,
        action: changes.length > 0 ? "update" : "unchanged",
        changes,
        applied: options.dryRun !== true
      })
    }
    return results
  }).pipe(Effect.scoped)
