/**
 * A Cloud Tasks emulator: an in-process server implementing `google.cloud.tasks.v2.CloudTasks`
 * from the `.proto` files that `@google-cloud/tasks` ships, over gRPC and over REST (HTTP/1.1
 * JSON at `/v2/…`, and the Firebase emulator's task path that firebase-admin uses) on one port,
 * so the official client talks to it unchanged in either mode. It delivers HTTP and App Engine
 * tasks the way Cloud Tasks does (schedule times, pause and resume, purge, rate limits, retries
 * with backoff, dispatch deadlines, the `X-CloudTasks-*` and `X-AppEngine-*` headers, OIDC
 * tokens, named-task deduplication), and serves a dashboard at `/` on the same port.
 *
 * `@google-cloud/tasks` is needed at run time (it is an optional peer dependency of this
 * package); it is loaded when the emulator starts, not when this module is imported.
 *
 * @example
 * ```ts
 * import { CloudTasksEmulator } from "effect-http-tasks/emulator"
 *
 * const emulator = await CloudTasksEmulator.start({ queues: ["projects/p/locations/l/queues/q"] })
 * // or from the application's queue definitions, with their settings:
 * // CloudTasksEmulator.start({ project: "p", location: "l", queues: [Transcription, Email] })
 * // CLOUD_TASKS_EMULATOR_HOST=emulator.host, or the official client:
 * // new CloudTasksClient({ servicePath: "127.0.0.1", port: emulator.port, sslCreds: grpc.credentials.createInsecure() })
 * const [attempt] = await emulator.waitForAttempts(1)
 * await emulator.stop()
 * ```
 *
 * @since 0.1.0
 */
import { Context, Data, Duration, Effect, Either, Layer } from "effect"
import { type ResolvedOptions, startEmulator } from "./internal/emulator/emulator.js"
import { GrpcRuntimeMissing } from "./internal/emulator/grpcRuntime.js"
import { DEFAULT_APP_ENGINE_TARGET } from "./internal/engine/engine.js"
import type * as EngineModel from "./internal/engine/model.js"
import type { SettingsPatch } from "./internal/engine/model.js"
import { MIN_DISPATCH_DEADLINE_MS, QUEUE_NAME_REUSE_MS, TASK_ID_REUSE_MS } from "./internal/limits.js"
import { queueSettings as definitionSettings } from "./internal/queues.js"
import type { TaskQueue } from "./TaskQueue.js"
import { DEFAULT_SLOW_CLIENT_TIMEOUTS } from "./internal/slowClients.js"

/**
 * Retry and rate settings for the queues the emulator creates at start (`options.queues`).
 * Absent fields take the Cloud Tasks defaults (500 dispatches/s, 1000 concurrent, 100 attempts,
 * backoff 0.1 s to 3600 s, 16 doublings, no retry duration limit).
 *
 * @since 0.1.0
 * @category models
 */
export interface CloudTasksEmulatorQueueSettings {
  /** `RateLimits.maxDispatchesPerSecond` (at most 500). */
  readonly maxDispatchesPerSecond?: number
  /** `RateLimits.maxConcurrentDispatches` (at most 5000). */
  readonly maxConcurrentDispatches?: number
  /** `RetryConfig.maxAttempts`; -1 for unlimited. */
  readonly maxAttempts?: number
  /** `RetryConfig.maxRetryDuration`; 0 for unlimited. */
  readonly maxRetryDuration?: Duration.DurationInput
  /** `RetryConfig.minBackoff`. */
  readonly minBackoff?: Duration.DurationInput
  /** `RetryConfig.maxBackoff`. */
  readonly maxBackoff?: Duration.DurationInput
  /** `RetryConfig.maxDoublings`. */
  readonly maxDoublings?: number
}

/**
 * Options of {@link CloudTasksEmulator.start} and {@link CloudTasksEmulator.layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface CloudTasksEmulatorOptions {
  /** The port on 127.0.0.1 of gRPC, REST and the dashboard; 0 or absent picks a free port. */
  readonly port?: number
  /**
   * The queues created at start: full queue names (`projects/<p>/locations/<l>/queues/<q>`),
   * or queues defined with `defineQueue`, created in {@link CloudTasksEmulatorOptions.project}
   * and {@link CloudTasksEmulatorOptions.location} with the settings they define (over
   * `queueSettings`). A definition Cloud Tasks would refuse fails the start (`InvalidOptions`).
   */
  readonly queues?: ReadonlyArray<string | TaskQueue>
  /** The project of the queues given as definitions (as `GOOGLE_CLOUD_PROJECT`). */
  readonly project?: string
  /** The location of the queues given as definitions (as `TASKS_LOCATION`). */
  readonly location?: string
  /**
   * Settings of the queues created at start (a definition's own settings win); queues created
   * through the API get the Cloud Tasks defaults.
   */
  readonly queueSettings?: CloudTasksEmulatorQueueSettings
  /**
   * How long the name of a task that ran or was deleted stays taken (`ALREADY_EXISTS` on
   * create, "existed recently" on get). Default: 1 hour, as Cloud Tasks.
   */
  readonly dedupWindow?: Duration.DurationInput
  /**
   * How long the name of a deleted queue cannot be reused (`FAILED_PRECONDITION` on create).
   * Default: 7 days, as Cloud Tasks.
   */
  readonly queueReuseWindow?: Duration.DurationInput
  /**
   * The smallest `dispatchDeadline` accepted. Default: 15 seconds, as Cloud Tasks; lower it in
   * tests of deadline handling.
   */
  readonly minDispatchDeadline?: Duration.DurationInput
  /** The `iss` of the OIDC tokens. Default: `https://accounts.google.com`. */
  readonly oidcIssuer?: string
  /** Port of the JWKS HTTP server on 127.0.0.1; 0 or absent picks a free port. */
  readonly jwksPort?: number
  /** How many delivery attempts (and finished tasks) are kept for observation. Default: 10,000. */
  readonly attemptLogLimit?: number
  /**
   * The wall clock (milliseconds since the epoch) for create and schedule times, the
   * `X-CloudTasks-TaskETA` header and tombstone expiry. It must never go backwards; a test can
   * add an offset to `Date.now()` to jump past the dedup window. Timers still run in real
   * time. Default: `Date.now`.
   */
  readonly clock?: () => number
  /** Called after every delivery attempt (the command-line emulator prints them). */
  readonly onAttempt?: (attempt: DeliveryAttempt) => void
  /**
   * The base URL that stands in for App Engine: an App Engine task (`appEngineHttpRequest`) is
   * delivered to it plus the task's relative URI. Default: `http://127.0.0.1:8080`, where App
   * Engine's local development server listens.
   */
  readonly appEngineTarget?: string
  /**
   * Where a task that firebase-admin enqueues without a URL goes (under the emulator it leaves
   * the URL empty, for the Firebase emulator to route to the function): a URL, or a function of
   * the full queue name. Default: `http://127.0.0.1:5001/<project>/<location>/<queue ID>`, the
   * Firebase Functions emulator's URL of the function named like the queue.
   */
  readonly firebaseTarget?: string | ((queue: string) => string)
  /**
   * How long a client of the emulator's port (and of its JWKS server) may take to send its
   * request's headers: from the connection, or from the previous response on a kept-alive
   * connection. A slower client is disconnected. Default: 10 seconds.
   */
  readonly headersTimeout?: Duration.DurationInput
  /**
   * How long a client may take to send its whole request, body included; a slower one (a client
   * that stops in the middle of its body) is disconnected. Default: 30 seconds.
   */
  readonly requestTimeout?: Duration.DurationInput
}

/**
 * One delivery attempt of an HTTP task, as the emulator sent it: task, queue, attempt number
 * (1 for the first), URL, method, headers (names in their wire casing), body, the status the
 * target answered or the error that prevented an answer, whether it succeeded (2xx), and when
 * it started and ended.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeliveryAttempt extends EngineModel.DeliveryAttempt {}

/**
 * How a task left its queue: `succeeded` (an attempt got a 2xx), `exhausted` (the retry limits
 * were reached), `deleted` (`DeleteTask` or `DeleteQueue`) or `purged` (`PurgeQueue`), with its
 * attempts in order and when it left.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskOutcome extends EngineModel.TaskOutcome {}

/**
 * Which attempts to read or wait for.
 *
 * @since 0.1.0
 * @category models
 */
export interface AttemptQuery {
  /** Only the attempts of this task (full name). */
  readonly task?: string
  /** Only the attempts of tasks in this queue (full name). */
  readonly queue?: string
}

/**
 * How long to wait.
 *
 * @since 0.1.0
 * @category models
 */
export interface WaitOptions {
  /** Fail after this long. Default: 10 seconds. */
  readonly timeout?: Duration.DurationInput
}

/**
 * A running emulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunningCloudTasksEmulator {
  /** `"127.0.0.1:<port>"`, ready for `CLOUD_TASKS_EMULATOR_HOST`. */
  readonly host: string
  /** The port of gRPC, REST and the dashboard. */
  readonly port: number
  /** The dashboard's URL, `http://127.0.0.1:<port>/`; the REST API is under it at `/v2/`. */
  readonly url: string
  /** The `iss` of the OIDC tokens the emulator signs. */
  readonly issuer: string
  /** URL of the JWKS that verifies the OIDC tokens (`http://127.0.0.1:<port>/oauth2/v3/certs`). */
  readonly jwksUri: string
  /** The delivery attempts so far (those that ended), oldest first. */
  readonly attempts: (query?: AttemptQuery) => ReadonlyArray<DeliveryAttempt>
  /** Resolves with the matching attempts once there are at least `count` of them. */
  readonly waitForAttempts: (
    count: number,
    options?: AttemptQuery & WaitOptions
  ) => Promise<ReadonlyArray<DeliveryAttempt>>
  /** Resolves once the task (full name) has left its queue, with how and its attempts. */
  readonly waitForTask: (task: string, options?: WaitOptions) => Promise<TaskOutcome>
  /**
   * Stops the server (gRPC, REST, the dashboard and its event streams), the JWKS server, every
   * timer and in-flight request. Pending waits fail. Idempotent.
   */
  readonly stop: () => Promise<void>
}

/**
 * The emulator could not start: `@google-cloud/tasks` is not installed
 * (`DependencyMissing`), a queue definition is invalid or has no project and location
 * (`InvalidOptions`), or the server could not bind (`StartFailed`).
 *
 * @since 0.1.0
 * @category errors
 */
export class CloudTasksEmulatorError extends Data.TaggedError("CloudTasksEmulatorError")<{
  readonly reason: "DependencyMissing" | "InvalidOptions" | "StartFailed"
  readonly message: string
  readonly cause?: unknown
}> {}

const DEFAULT_WAIT_MS = 10_000

const millis = (input: Duration.DurationInput | undefined, fallback: number): number =>
  input === undefined ? fallback : Duration.toMillis(Duration.decode(input))

/** The queues to create at start with their settings, or why the definitions among them cannot be created. */
const startQueues = (
  options: CloudTasksEmulatorOptions,
  base: SettingsPatch
): Either.Either<ResolvedOptions["queues"], string> => {
  const given = options.queues ?? []
  const problems: Array<string> = []
  if (given.some((queue) => typeof queue !== "string") && (!options.project || !options.location)) {
    problems.push("queues given as definitions need the options project and location")
  }
  const queues = given.map((queue): readonly [string, SettingsPatch] => {
    if (typeof queue === "string") return [queue, base]
    const settings = definitionSettings(queue)
    if (Either.isLeft(settings)) problems.push(settings.left)
    return [
      `projects/${options.project}/locations/${options.location}/queues/${queue.id}`,
      { ...base, ...Either.getOrElse(settings, () => ({})) }
    ]
  })
  return problems.length === 0 ? Either.right(queues) : Either.left(problems.join("; "))
}

const resolveOptions = (options: CloudTasksEmulatorOptions): Either.Either<ResolvedOptions, string> => {
  const settings = options.queueSettings ?? {}
  const patch: { -readonly [K in keyof SettingsPatch]: SettingsPatch[K] } = {}
  if (settings.maxDispatchesPerSecond !== undefined) patch.maxDispatchesPerSecond = settings.maxDispatchesPerSecond
  if (settings.maxConcurrentDispatches !== undefined) patch.maxConcurrentDispatches = settings.maxConcurrentDispatches
  if (settings.maxAttempts !== undefined) patch.maxAttempts = settings.maxAttempts
  if (settings.maxDoublings !== undefined) patch.maxDoublings = settings.maxDoublings
  if (settings.maxRetryDuration !== undefined) patch.maxRetryDurationMs = millis(settings.maxRetryDuration, 0)
  if (settings.minBackoff !== undefined) patch.minBackoffMs = millis(settings.minBackoff, 0)
  if (settings.maxBackoff !== undefined) patch.maxBackoffMs = millis(settings.maxBackoff, 0)
  return Either.map(startQueues(options, patch), (queues): ResolvedOptions => ({
    port: options.port ?? 0,
    queues,
    dedupWindowMs: millis(options.dedupWindow, TASK_ID_REUSE_MS),
    queueReuseWindowMs: millis(options.queueReuseWindow, QUEUE_NAME_REUSE_MS),
    minDispatchDeadlineMs: millis(options.minDispatchDeadline, MIN_DISPATCH_DEADLINE_MS),
    oidcIssuer: options.oidcIssuer ?? "https://accounts.google.com",
    jwksPort: options.jwksPort ?? 0,
    attemptLogLimit: options.attemptLogLimit ?? 10_000,
    clock: options.clock ?? Date.now,
    onAttempt: options.onAttempt,
    appEngineTarget: options.appEngineTarget ?? DEFAULT_APP_ENGINE_TARGET,
    firebaseTarget: firebaseTarget(options.firebaseTarget),
    timeouts: {
      headersMs: millis(options.headersTimeout, DEFAULT_SLOW_CLIENT_TIMEOUTS.headersMs),
      requestMs: millis(options.requestTimeout, DEFAULT_SLOW_CLIENT_TIMEOUTS.requestMs)
    }
  }))
}

/** The Firebase Functions emulator's URL of the function named like the queue. */
const firebaseFunctionUrl = (queue: string): string => {
  const [, project, , location, , id] = queue.split("/")
  return `http://127.0.0.1:5001/${project}/${location}/${id}`
}

const firebaseTarget = (option: CloudTasksEmulatorOptions["firebaseTarget"]): (queue: string) => string =>
  option === undefined ? firebaseFunctionUrl : typeof option === "string" ? () => option : option

const start = async (options: CloudTasksEmulatorOptions = {}): Promise<RunningCloudTasksEmulator> => {
  const resolved = resolveOptions(options)
  if (Either.isLeft(resolved)) {
    throw new CloudTasksEmulatorError({
      reason: "InvalidOptions",
      message: `The Cloud Tasks emulator cannot create its queues: ${resolved.left}`
    })
  }
  let running
  try {
    running = await startEmulator(resolved.right)
  } catch (cause) {
    throw cause instanceof GrpcRuntimeMissing
      ? new CloudTasksEmulatorError({ reason: "DependencyMissing", message: cause.message, cause: cause.cause })
      : new CloudTasksEmulatorError({
        reason: "StartFailed",
        message: `The Cloud Tasks emulator could not start on 127.0.0.1:${options.port ?? 0}: ${
          cause instanceof Error ? cause.message : String(cause)
        }`,
        cause
      })
  }
  const { engine } = running
  return {
    host: running.host,
    port: running.port,
    url: `http://${running.host}/`,
    issuer: running.issuer,
    jwksUri: running.jwksUri,
    attempts: (query = {}) => engine.attempts(query),
    waitForAttempts: (count, options = {}) =>
      engine.waitForAttempts(count, { task: options.task, queue: options.queue }, millis(options.timeout, DEFAULT_WAIT_MS)),
    waitForTask: (task, options = {}) => engine.waitForTask(task, millis(options.timeout, DEFAULT_WAIT_MS)),
    stop: running.stop
  }
}

const layer = (options: CloudTasksEmulatorOptions = {}): Layer.Layer<CloudTasksEmulator, CloudTasksEmulatorError> =>
  Layer.scoped(
    CloudTasksEmulator,
    Effect.acquireRelease(
      Effect.tryPromise({
        try: () => start(options),
        catch: (error) =>
          error instanceof CloudTasksEmulatorError
            ? error
            : new CloudTasksEmulatorError({ reason: "StartFailed", message: String(error), cause: error })
      }),
      (emulator) => Effect.promise(() => emulator.stop())
    )
  )

/**
 * The Cloud Tasks emulator. As a `Context.Tag` it is the service of a running emulator
 * (provided by {@link CloudTasksEmulator.layer}); its statics start one.
 *
 * @since 0.1.0
 * @category services
 */
export class CloudTasksEmulator extends Context.Tag("effect-http-tasks/CloudTasksEmulator")<
  CloudTasksEmulator,
  RunningCloudTasksEmulator
>() {
  /**
   * Starts an emulator, for tests and programs not written with Effect. Fails with
   * {@link CloudTasksEmulatorError}. Call `stop()` when done.
   *
   * @since 0.1.0
   * @category constructors
   */
  static readonly start: (options?: CloudTasksEmulatorOptions) => Promise<RunningCloudTasksEmulator> = start

  /**
   * A scoped layer running an emulator for as long as the layer's scope is open.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: (
    options?: CloudTasksEmulatorOptions
  ) => Layer.Layer<CloudTasksEmulator, CloudTasksEmulatorError> = layer
}
