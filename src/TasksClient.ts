/**
 * `enqueueHttpTask`: the one way an application dispatches a background HTTP task.
 *
 * The call validates the path, the payload and the options, picks a route from
 * configuration (never from the caller) and hands the task to that route's
 * service. Each route is its own layer, so a test can replace any of them.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, type Either, Layer, Option } from "effect"
import { CloudTasksRoute } from "./CloudTasksRoute.js"
import { DryRunRoute } from "./DryRunRoute.js"
import { type ConfigError, DispatchError, type ImportError, type Route } from "./Errors.js"
import { Events } from "./Events.js"
import * as Log from "./internal/log.js"
import { makeTaskRequest } from "./internal/request.js"
import { type Decision, decideRoute } from "./internal/routing.js"
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

const make = Effect.gen(function*() {
  const config = yield* TasksConfig
  const routes = {
    "dry-run": yield* DryRunRoute,
    "cloud-tasks": yield* CloudTasksRoute,
    loopback: yield* LoopbackRoute,
    worker: yield* WorkerRoute,
    local: yield* LocalRoute
  }
  const devReason = config.appEnv === "test" ? "test_env" : "dev_env"
  /** The events every dev/test dispatch starts with. */
  const devStart = [
    [Events.cloudDisabled, "Cloud Tasks disabled", { reason: devReason }],
    [Events.usingLocalDispatch, "Using local dispatch"]
  ] as const

  const enqueue = (path: string, payload: unknown, options?: EnqueueOptions) => {
    const decision = decideRoute(config, path)
    return Effect.withSpan(dispatch(decision, path, payload, options), "TasksClient.enqueueHttpTask", {
      attributes: { "tasks.path": path, "tasks.route": decision.route },
      // not captured per call: this runs on every request path (see internal/span.ts)
      captureStackTrace: false
    })
  }

  const dispatch = Effect.fnUntraced(function*(
    decision: Decision,
    path: string,
    payload: unknown,
    options: EnqueueOptions | undefined
  ) {
    yield* Log.info(Events.start, "Enqueueing task", { path })
    const request = makeTaskRequest(path, payload, options, yield* Clock.currentTimeMillis)
    if (request._tag === "Left") {
      const { message, reason } = request.left
      yield* Log.error(Events.invalidRequest, message, { path, reason })
      return yield* new DispatchError({ message, path, route: decision.route, reason })
    }
    const task = request.right
    switch (decision.route) {
      case "dry-run":
        return yield* routes["dry-run"].dispatch(task)
      case "cloud-tasks":
        yield* Log.infos([
          [Events.cloudEnabled, "Cloud Tasks enabled"],
          [Events.usingCloudTasks, "Using Cloud Tasks"]
        ], { path })
        return yield* routes["cloud-tasks"].dispatch(task)
      case "loopback":
        yield* Log.infos([
          ...devStart,
          [Events.usingLoopback, "Posting to TASKS_URL_BASE (HTTP loopback)"]
        ], { path })
        return yield* routes.loopback.dispatch(task)
      case "worker":
        yield* Log.infos([
          ...devStart,
          [Events.checkingWorkerConfig, "Checking worker configuration"],
          [Events.workerConfigValid, "Worker configuration valid"],
          [Events.usingWorkerServer, "Using the worker server"]
        ], { path })
        return yield* routes.worker.dispatch(task)
      case "local":
        yield* Log.infos([...devStart, [Events.checkingWorkerConfig, "Checking worker configuration"]], { path })
        // Asked for the worker but it is not usable: a warning, so the fallback is seen.
        yield* Log.logEvent(
          config.useWorkerInDev && decision.workerProblem !== "not_worker_path" ? Log.LogLevel.Warning : Log.LogLevel.Info,
          Events.workerConfigInvalid,
          Option.match(config.workerUrlProblem, {
            onNone: () => "Not using the worker server",
            onSome: (problem) => `Not using the worker server: ${problem}`
          }),
          { path, reason: decision.workerProblem }
        )
        return yield* routes.local.dispatch(task)
    }
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
  Effect.flatMap(TasksClient, (client) => client.enqueueHttpTask(path, payload, options))

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
 * answers bursts over one channel with `DEADLINE_EXCEEDED`). Returns one result
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
  Effect.flatMap(TasksClient, (client) =>
    Effect.forEach(
      tasks,
      (task) => Effect.either(client.enqueueHttpTask(task.path, task.payload, task.options)),
      { concurrency: options?.concurrency ?? 10 }
    ))

/**
 * Waits until every in-process task started so far has finished.
 *
 * @since 0.1.0
 */
export const drain: Effect.Effect<void, never, TasksClient> = Effect.flatMap(TasksClient, (client) => client.drain)
