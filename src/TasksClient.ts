/**
 * `enqueueHttpTask`: the one way an application dispatches a background HTTP task.
 *
 * The call validates the path, the payload and the options, picks a route from
 * configuration (never from the caller) and hands the task to that route's
 * service. Each route is its own layer, so a test can replace any of them.
 *
 * @since 0.1.0
 */
import { Context, DefaultServices, Effect, Either, type Fiber, Layer, Option, Tracer } from "effect"
import { CloudTasksRoute } from "./CloudTasksRoute.js"
import { DryRunRoute } from "./DryRunRoute.js"
import { type ConfigError, DispatchError, type ImportError, type Route } from "./Errors.js"
import { type EventName, Events } from "./Events.js"
import * as Log from "./internal/log.js"
import { currentTimeMillis, makeTaskRequest } from "./internal/request.js"
import { type Decision, decideRoute, type WorkerConfigProblem } from "./internal/routing.js"
import { LocalRoute } from "./LocalRoute.js"
import { LoopbackRoute } from "./LoopbackRoute.js"
import type { EnqueueOptions, TaskInfo } from "./Route.js"
import type { TaskHandlers } from "./TaskHandlers.js"
import { TasksConfig, type TasksConfigInput } from "./TasksConfig.js"
import { WorkerRoute } from "./WorkerRoute.js"

/**
 * The service behind {@link enqueueHttpTask}.
 *
 * @since 0.1.0
 */
export interface TasksClientShape {
  /** See {@link enqueueHttpTask}. */
  readonly enqueueHttpTask: (
    path: string,
    payload: unknown,
    options?: EnqueueOptions
  ) => Effect.Effect<TaskInfo, ImportError | ConfigError | DispatchError>
  /** Waits until every in-process task started so far has finished. */
  readonly drain: Effect.Effect<void>
  /** The route a task for `path` takes under this configuration (nothing is dispatched). */
  readonly route: (path: string) => Route
}

/**
 * Every route service that {@link TasksClient.layerWithoutRoutes} needs.
 *
 * @since 0.1.0
 */
export type Routes = DryRunRoute | LocalRoute | WorkerRoute | LoopbackRoute | CloudTasksRoute

const info = (event: EventName, message: string, fields?: Log.EventFields): Log.Event =>
  [Log.LogLevel.Info, event, message, fields]

/** Routes whose dispatch leaves the process: each such enqueue is a span, the trace parent of the task. */
const traced: ReadonlySet<Route> = new Set(["cloud-tasks", "worker", "loopback"])

/**
 * effect's built-in tracer, which exports nothing. Under it an enqueue opens no
 * span of its own (the caller's span is still the task's trace parent): a span
 * costs about as many steps of the runtime as the rest of the call.
 */
const builtInTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

const make = Effect.gen(function*() {
  const config = yield* TasksConfig
  const routes = {
    "dry-run": yield* DryRunRoute,
    "cloud-tasks": yield* CloudTasksRoute,
    loopback: yield* LoopbackRoute,
    worker: yield* WorkerRoute,
    local: yield* LocalRoute
  }

  // The events each route logs before its own, in order: fixed by the configuration.
  const start = info(Events.start, "Enqueueing task")
  const devStart = [
    start,
    info(Events.cloudDisabled, "Cloud Tasks disabled", { reason: config.appEnv === "test" ? "test_env" : "dev_env" }),
    info(Events.usingLocalDispatch, "Using local dispatch")
  ]
  const checkingWorker = info(Events.checkingWorkerConfig, "Checking worker configuration")
  const notWorker = (reason: WorkerConfigProblem): Log.Event => [
    // Asked for the worker but it is not usable: a warning, so the fallback is seen.
    config.useWorkerInDev && reason !== "not_worker_path" ? Log.LogLevel.Warning : Log.LogLevel.Info,
    Events.workerConfigInvalid,
    Option.match(config.workerUrlProblem, {
      onNone: () => "Not using the worker server",
      onSome: (problem) => `Not using the worker server: ${problem}`
    }),
    { reason }
  ]
  const preambles: { readonly [R in Exclude<Route, "local">]: ReadonlyArray<Log.Event> } = {
    "dry-run": [start],
    "cloud-tasks": [
      start,
      info(Events.cloudEnabled, "Cloud Tasks enabled"),
      info(Events.usingCloudTasks, "Using Cloud Tasks")
    ],
    loopback: [...devStart, info(Events.usingLoopback, "Posting to TASKS_URL_BASE (HTTP loopback)")],
    worker: [
      ...devStart,
      checkingWorker,
      info(Events.workerConfigValid, "Worker configuration valid"),
      info(Events.usingWorkerServer, "Using the worker server")
    ]
  }
  const local = (reason: WorkerConfigProblem) => [...devStart, checkingWorker, notWorker(reason)]
  const localPreambles: { readonly [P in WorkerConfigProblem]: ReadonlyArray<Log.Event> } = {
    worker_disabled: local("worker_disabled"),
    worker_url_missing: local("worker_url_missing"),
    worker_url_invalid: local("worker_url_invalid"),
    not_worker_path: local("not_worker_path")
  }

  const dispatch = (
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    path: string,
    payload: unknown,
    options: EnqueueOptions | undefined,
    decision: Decision
  ) => {
    const fields = { path }
    const request = makeTaskRequest(path, payload, options, currentTimeMillis(fiber))
    if (request._tag === "Left") {
      const { message, reason } = request.left
      return Log.before(
        fiber,
        [start, [Log.LogLevel.Error, Events.invalidRequest, message, { reason }]],
        fields,
        Effect.fail(new DispatchError({ message, path, route: decision.route, reason }))
      )
    }
    return decision.route === "local"
      ? Log.before(fiber, localPreambles[decision.workerProblem], fields, routes.local.dispatch(request.right))
      : Log.before(fiber, preambles[decision.route], fields, routes[decision.route].dispatch(request.right))
  }

  // One step of the runtime for the whole call when its events are filtered out and
  // no span is due: this runs on every request path.
  const enqueue = (path: string, payload: unknown, options?: EnqueueOptions) =>
    Effect.withFiberRuntime<TaskInfo, ImportError | DispatchError>((fiber) => {
      const decision = decideRoute(config, path)
      if (!traced.has(decision.route) || fiber.currentTracer === builtInTracer) {
        return dispatch(fiber, path, payload, options, decision)
      }
      return Effect.withSpan(
        Effect.withFiberRuntime((inner) => dispatch(inner, path, payload, options, decision)),
        "TasksClient.enqueueHttpTask",
        {
          attributes: { "tasks.path": path, "tasks.route": decision.route },
          // not captured per call: this runs on every request path
          captureStackTrace: false
        }
      )
    })

  return TasksClient.of({
    enqueueHttpTask: enqueue,
    drain: routes.local.drain,
    route: (path) => decideRoute(config, path).route
  })
})

/**
 * The task client, as a service.
 *
 * @since 0.1.0
 */
export class TasksClient extends Context.Tag("effect-http-tasks/TasksClient")<TasksClient, TasksClientShape>() {
  /**
   * The client alone: configuration and every route left open, to provide one
   * route with a fake in a test (then {@link TasksClient.routes} for the rest).
   *
   * @since 0.1.0
   */
  static readonly layerWithoutRoutes: Layer.Layer<TasksClient, never, TasksConfig | Routes> = Layer.effect(this, make)
  /**
   * Every default route: dry-run, local, worker and loopback over fetch, cloud-tasks.
   *
   * @since 0.1.0
   */
  static readonly routes: Layer.Layer<Routes, never, TasksConfig | TaskHandlers> = Layer.mergeAll(
    DryRunRoute.layer,
    LocalRoute.layer,
    WorkerRoute.layer,
    LoopbackRoute.layer,
    CloudTasksRoute.layer
  )
  /**
   * The client with every default route, configuration left open.
   *
   * @since 0.1.0
   */
  static readonly layerWithoutConfig: Layer.Layer<TasksClient, never, TasksConfig | TaskHandlers> = Layer.provide(
    TasksClient.layerWithoutRoutes,
    TasksClient.routes
  )
  /**
   * The one-line edge for applications: configuration read through effect's
   * `Config`, every default route wired in.
   *
   * @since 0.1.0
   */
  static readonly layer: Layer.Layer<TasksClient, ConfigError, TaskHandlers> = Layer.provide(
    TasksClient.layerWithoutConfig,
    TasksConfig.layer
  )
  /**
   * The same, with explicit configuration values.
   *
   * @since 0.1.0
   */
  static readonly layerWith = (input: TasksConfigInput): Layer.Layer<TasksClient, ConfigError, TaskHandlers> =>
    Layer.provide(TasksClient.layerWithoutConfig, TasksConfig.layerWith(input))
}

/**
 * Dispatches a background HTTP task to the route that configuration selects:
 * dry-run, Cloud Tasks in production, or in dev/test the HTTP loopback, the
 * worker server or an in-process handler.
 *
 * @example
 * ```ts
 * const info = yield* enqueueHttpTask("/api/tasks/transcribe", { filename: "a.wav", user_id: "123" })
 * // info.name: "local-direct-dispatch" in dev, "projects/…/tasks/…" in production
 * ```
 *
 * @since 0.1.0
 */
export const enqueueHttpTask = (
  path: string,
  payload: unknown,
  options?: EnqueueOptions
): Effect.Effect<TaskInfo, ImportError | ConfigError | DispatchError, TasksClient> =>
  // The service is read from the fiber directly: one step of the runtime instead of three, on every call.
  Effect.withFiberRuntime((fiber) =>
    Context.unsafeGet(fiber.currentContext, TasksClient).enqueueHttpTask(path, payload, options)
  )

/**
 * One task of a batch for {@link enqueueHttpTasks}.
 *
 * @since 0.1.0
 */
export interface TaskSpec {
  readonly path: string
  readonly payload: unknown
  readonly options?: EnqueueOptions | undefined
}

/**
 * Enqueues many tasks with bounded concurrency (default 10: Cloud Tasks
 * answers bursts over one channel with `DEADLINE_EXCEEDED`; below 1 means 1). Returns one result
 * per task, in order, so a failure loses nothing and hides nothing: each entry is
 * the task's `TaskInfo` or its error.
 *
 * @example
 * ```ts
 * const results = yield* enqueueHttpTasks(chunks.map((chunk) => ({
 *   path: "/api/tasks/process-chunk",
 *   payload: chunk
 * })), { concurrency: 32 })
 * const failed = results.filter(Either.isLeft)
 * ```
 *
 * @since 0.1.0
 */
export const enqueueHttpTasks = (
  tasks: Iterable<TaskSpec>,
  options?: { readonly concurrency?: number | undefined }
): Effect.Effect<Array<Either.Either<TaskInfo, ImportError | ConfigError | DispatchError>>, never, TasksClient> =>
  Effect.withFiberRuntime((fiber) => {
    const client = Context.unsafeGet(fiber.currentContext, TasksClient)
    const specs = Array.from(tasks)
    const results = new Array<Either.Either<TaskInfo, ImportError | ConfigError | DispatchError>>(specs.length)
    // A fixed set of fibers takes the tasks in turn: no fiber per task.
    let next = 0
    const worker = Effect.whileLoop({
      while: () => next < specs.length,
      body: () => {
        const index = next++
        const { options, path, payload } = specs[index]!
        return Effect.match(client.enqueueHttpTask(path, payload, options), {
          onFailure: (error) => {
            results[index] = Either.left(error)
          },
          onSuccess: (info) => {
            results[index] = Either.right(info)
          }
        })
      },
      step: () => {}
    })
    const limit = options?.concurrency ?? 10
    const workers = Math.min(specs.length, limit >= 1 ? Math.floor(limit) : 1)
    return Effect.as(
      Effect.all(Array.from({ length: workers }, () => worker), { concurrency: "unbounded", discard: true }),
      results
    )
  })

/**
 * Waits until every in-process task started so far has finished.
 *
 * @since 0.1.0
 */
export const drain: Effect.Effect<void, never, TasksClient> = Effect.flatMap(TasksClient, (client) => client.drain)
