/**
 * The cloud-tasks route: creates a Google Cloud Task that POSTs the payload to
 * `TASKS_URL_BASE + path` (worker paths to `WORKER_URL_BASE` when set).
 *
 * `@google-cloud/tasks` is an optional peer dependency, loaded on the first
 * dispatch (an {@link ImportError} when absent). One client serves the layer and
 * is closed with it. With `CLOUD_TASKS_EMULATOR_HOST` the client speaks plaintext
 * gRPC to an emulator.
 *
 * @since 0.1.0
 */
import type * as CloudTasks from "@google-cloud/tasks"
import { type Cause, Context, Duration, Effect, type Exit, Layer, Option, Redacted } from "effect"
import { createRequire } from "node:module"
import { DispatchError, ImportError } from "./Errors.js"
import { type EventName, Events } from "./Events.js"
import { MAX_TASK_BYTES } from "./internal/limits.js"
import * as Log from "./internal/log.js"
import type { RouteShape, TaskInfo, TaskRequest } from "./Route.js"
import { TasksConfig } from "./TasksConfig.js"

/**
 * Options of {@link CloudTasksRoute.layerWith}.
 *
 * @since 0.1.0
 */
export interface CloudTasksRouteOptions {
  /**
   * Extra options for the `CloudTasksClient` constructor (e.g. `keyFilename`,
   * `credentials`). Ignored keys are passed through unchanged.
   */
  readonly clientOptions?: Readonly<Record<string, unknown>> | undefined
  /**
   * How many times a transient failure (`UNAVAILABLE`, `DEADLINE_EXCEEDED`) of a
   * named task's creation is retried; unnamed tasks are never retried, as a retry
   * could create a duplicate. Default 3.
   */
  readonly transientRetries?: number | undefined
  /** @internal the module to load instead of `@google-cloud/tasks`. */
  readonly moduleName?: string | undefined
}


/** gRPC status codes the route treats specially. */
const ALREADY_EXISTS = 6
const transientCodes = new Set([4 /* DEADLINE_EXCEEDED */, 14 /* UNAVAILABLE */])

interface Loaded {
  readonly client: CloudTasks.v2.CloudTasksClient
  readonly encodedSize: (task: CloudTasks.protos.google.cloud.tasks.v2.ITask) => number
}

type Fail = (
  reason: DispatchError["reason"],
  message: string,
  extra?: { readonly grpcStatus?: number; readonly cause?: unknown }
) => DispatchError

const grpcCode = (error: unknown): number | undefined => {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === "number" ? code : undefined
}

const errorText = (error: unknown): string => {
  const details = (error as { details?: unknown } | null)?.details
  return typeof details === "string" && details !== "" ? details : String(error)
}

const make = Effect.fnUntraced(function*(options: CloudTasksRouteOptions) {
  const config = yield* TasksConfig
  const moduleName = options.moduleName ?? "@google-cloud/tasks"
  let opened: CloudTasks.v2.CloudTasksClient | undefined
  yield* Effect.addFinalizer(() => opened === undefined ? Effect.void : Effect.promise(() => opened!.close()))

  const load = Effect.gen(function*() {
    const require = createRequire(import.meta.url)
    const module = yield* Effect.try({
      try: () => {
        const path = require.resolve(moduleName)
        return { path, tasks: require(path) as typeof CloudTasks }
      },
      catch: (cause) =>
        new ImportError({
          message:
            `The cloud-tasks route needs ${moduleName}, which could not be loaded. Install it with: npm install ${moduleName}`,
          module: moduleName,
          cause
        })
    })
    const client = yield* Effect.try(() => {
      const emulator = Option.map(config.emulatorHost, ({ host, port }) => {
        const gax = createRequire(module.path)("google-gax") as typeof import("google-gax")
        // An explicit universe domain keeps google-auth-library from asking the
        // GCE metadata server (a network call) before the first request.
        return {
          servicePath: host,
          port,
          sslCreds: gax.grpc.credentials.createInsecure(),
          universeDomain: "googleapis.com"
        }
      })
      return new module.tasks.CloudTasksClient({ ...options.clientOptions, ...Option.getOrUndefined(emulator) })
    })
    opened = client
    const Task = module.tasks.protos.google.cloud.tasks.v2.Task
    return { client, encodedSize: (task) => Task.encode(task).finish().length } satisfies Loaded
  })
  // The client is made once, on the first dispatch; later dispatches read it without
  // a step of the runtime (Effect.cached takes a lock on every access, on every enqueue).
  let cached: Exit.Exit<Loaded, ImportError | Cause.UnknownException> | undefined
  const lock = yield* Effect.makeSemaphore(1)
  const loaded = (fields: Log.EventFields, fail: Fail) =>
    lock.withPermits(1)(Effect.suspend(() =>
      cached ?? Effect.flatten(Effect.tap(Effect.exit(load), (exit) => {
        cached = exit
      }))
    )).pipe(
      Effect.tapError((error) =>
        error._tag === "ImportError"
          ? Log.error(Events.cloudTasksUnavailable, error.message, fields)
          : Log.error(Events.cloudTasksClientFailed, `Could not create the CloudTasksClient: ${error.message}`, fields)
      ),
      Effect.catchTag("UnknownException", (error) =>
        fail("cloud_client_failed", `Could not create the CloudTasksClient: ${error.message}`, { cause: error.error }))
    )
  const transientRetries = options.transientRetries ?? 3
  const auth = config.auth
  const queue = Option.getOrUndefined(config.queue)
  const parent = queue && `projects/${queue.project}/locations/${queue.location}/queues/${queue.queue}`
  const authEvent: Log.Event = Option.isSome(auth)
    ? [Log.LogLevel.Info, Events.tasksAuthSet, "TASKS_AUTH is set; sending it as X-Tasks-Auth"]
    : [Log.LogLevel.Warning, Events.tasksAuthMissing, "TASKS_AUTH is not set; relying on the OIDC token"]

  /** Builds and creates the task, with one step of the runtime before the call when its events are filtered out. */
  const create = (client: Loaded, request: TaskRequest, fields: Log.EventFields, fail: Fail) =>
    Effect.withFiberRuntime<TaskInfo, DispatchError>((fiber) => {
      const refuse = (events: ReadonlyArray<Log.Event>, event: EventName, error: DispatchError) =>
        Log.before(fiber, [...events, [Log.LogLevel.Error, event, error.message]], fields, Effect.fail(error))
      if (parent === undefined) {
        const message = "GOOGLE_CLOUD_PROJECT, TASKS_LOCATION and TASKS_QUEUE are required for Cloud Tasks"
        return refuse([], Events.configMissing, fail("create_task_failed", message))
      }
      const useWorker = config.workerPaths.has(request.path) && Option.isSome(config.workerUrlBase)
      const base = useWorker ? config.workerUrlBase : config.urlBase
      if (Option.isNone(base)) {
        return refuse([], Events.baseUrlMissing, fail("create_task_failed", "TASKS_URL_BASE is required for Cloud Tasks"))
      }
      const url = base.value + request.path
      const events: Array<Log.Event> = [
        [
          Log.LogLevel.Info,
          useWorker ? Events.usingWorkerUrl : Events.usingTasksUrl,
          `Cloud Task will POST to ${useWorker ? "WORKER_URL_BASE" : "TASKS_URL_BASE"}`,
          { url }
        ],
        authEvent
      ]

      const span = fiber.currentSpan
      const headers: Record<string, string> = { ...request.headers, "Content-Type": "application/json" }
      if (span !== undefined) headers.traceparent = `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`
      // The secret goes on the wire here and nowhere else.
      if (Option.isSome(auth)) headers["X-Tasks-Auth"] = Redacted.value(auth.value)
      const httpRequest: CloudTasks.protos.google.cloud.tasks.v2.IHttpRequest = {
        httpMethod: "POST",
        url,
        headers,
        body: Buffer.from(request.body)
      }
      if (Option.isSome(config.serviceAccountEmail)) {
        httpRequest.oidcToken = {
          serviceAccountEmail: config.serviceAccountEmail.value,
          audience: Option.getOrElse(config.oidcAudience, () => url)
        }
      }
      const task: CloudTasks.protos.google.cloud.tasks.v2.ITask = { httpRequest }
      if (Option.isSome(request.taskId)) task.name = `${parent}/tasks/${request.taskId.value}`
      if (Option.isSome(request.dispatchDeadline)) {
        task.dispatchDeadline = { seconds: Math.ceil(Duration.toSeconds(request.dispatchDeadline.value)) }
      }
      if (Option.isSome(request.scheduleTime)) {
        const at = request.scheduleTime.value.getTime()
        task.scheduleTime = { seconds: Math.floor(at / 1000), nanos: (at % 1000) * 1_000_000 }
      }
      // The stored task also holds a name, times and the User-Agent header the service adds.
      // Only a task whose body, URL and headers come near the limit is encoded to measure it.
      const roughSize = Buffer.byteLength(request.body) + url.length + Buffer.byteLength(JSON.stringify(headers))
      const size = roughSize < MAX_TASK_BYTES - 4096 ? roughSize : client.encodedSize({
        ...task,
        name: task.name ?? `${parent}/tasks/${"0".repeat(20)}`,
        httpRequest: { ...httpRequest, headers: { ...headers, "User-Agent": "Google-Cloud-Tasks" } }
      }) + 64
      if (size > MAX_TASK_BYTES) {
        return refuse(events, Events.taskBuildFailed, fail(
          "payload_too_large",
          `The task for ${request.path} would be ${size} bytes; Cloud Tasks accepts at most ${MAX_TASK_BYTES}`
        ))
      }
      events.push([Log.LogLevel.Info, Events.creatingTask, "Creating Cloud Task", { queue: parent }])

      const createTask = Effect.tryPromise({
        try: () => client.client.createTask({ parent, task }),
        catch: (cause) => cause
      })
      // Only a named task may be retried: Cloud Tasks dedups it, so a retry cannot duplicate it.
      const retryable = (cause: unknown) => Option.isSome(request.taskId) && transientCodes.has(grpcCode(cause) ?? -1)
      const attempt = (retry: number): Effect.Effect<TaskInfo, DispatchError> =>
        Effect.matchEffect(createTask, {
          onSuccess: ([created]) => {
            const name = created.name ?? ""
            return Log.before(
              fiber,
              [[Log.LogLevel.Info, Events.cloudEnqueued, "Cloud Task enqueued", { name }]],
              fields,
              Effect.succeed({ name, route: "cloud-tasks" as const })
            )
          },
          onFailure: (cause) => {
            if (retry < transientRetries && retryable(cause)) {
              return Log.warn(Events.cloudRetrying, `Transient Cloud Tasks failure; retrying: ${errorText(cause)}`, {
                ...fields,
                retry: retry + 1
              }).pipe(
                Effect.zipRight(Effect.sleep(Duration.millis(100 * 2 ** retry * (0.5 + Math.random())))),
                Effect.zipRight(attempt(retry + 1))
              )
            }
            const grpcStatus = grpcCode(cause)
            const exists = grpcStatus === ALREADY_EXISTS
            const message = exists
              ? `A task named ${Option.getOrElse(request.taskId, () => "")} already exists or ran recently`
              : `Cloud Tasks refused the task for ${request.path}: ${errorText(cause)}`
            return Log.error(Events.createTaskFailed, message, {
              ...fields,
              ...(grpcStatus === undefined ? {} : { status: grpcStatus })
            }).pipe(
              Effect.zipRight(fail(exists ? "already_exists" : "create_task_failed", message, {
                ...(grpcStatus === undefined ? {} : { grpcStatus }),
                cause
              }))
            )
          }
        })
      return Log.before(fiber, events, fields, attempt(0))
    })

  const dispatch: RouteShape["dispatch"] = (request) => {
    const fields = { path: request.path, route: "cloud-tasks" }
    const fail: Fail = (reason, message, extra = {}) =>
      new DispatchError({ message, path: request.path, route: "cloud-tasks", reason, ...extra })
    return cached?._tag === "Success"
      ? create(cached.value, request, fields, fail)
      : Effect.flatMap(loaded(fields, fail), (client) => create(client, request, fields, fail))
  }
  return CloudTasksRoute.of({ dispatch })
})

/**
 * The cloud-tasks route, as a service.
 *
 * @since 0.1.0
 */
export class CloudTasksRoute extends Context.Tag("effect-http-tasks/CloudTasksRoute")<CloudTasksRoute, RouteShape>() {
  /**
   * The cloud-tasks route with explicit options.
   *
   * @since 0.1.0
   */
  static readonly layerWith = (options: CloudTasksRouteOptions = {}): Layer.Layer<CloudTasksRoute, never, TasksConfig> =>
    Layer.scoped(this, make(options))
  /**
   * The cloud-tasks route with default client options.
   *
   * @since 0.1.0
   */
  static readonly layer: Layer.Layer<CloudTasksRoute, never, TasksConfig> = CloudTasksRoute.layerWith()
}
