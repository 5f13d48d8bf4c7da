/**
 * `enqueueHttpTask`: the one way an application dispatches a background HTTP task.
 *
 * The call validates the path, the payload and the options, picks a route from
 * configuration (never from the caller) and hands the task to that route's
 * service. Each route is its own layer, so a test can replace any of them.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Either, Layer, Option, Schema, type Tracer } from "effect"
import { CloudTasksRoute } from "./CloudTasksRoute.js"
import { DryRunRoute } from "./DryRunRoute.js"
import { CancelError, type ConfigError, DispatchError, type ImportError, type Route } from "./Errors.js"
import { Events } from "./Events.js"
import * as Log from "./internal/log.js"
import { taskPayloadError } from "./internal/payloadIssues.js"
import { makeTaskRequest, type PayloadEncoder, type Refusal } from "./internal/request.js"
import { dryRunRoute } from "./internal/dryRun.js"
import { useSpan } from "./internal/span.js"
import { loadCloudRoute, loadHttpRoute, loadLocalQueue } from "./internal/routeModules.js"
import { type Decision, decideRoute, decisionEvents, selectableRoutes, startEvent } from "./internal/routing.js"
import { LocalRoute, type LocalRouteShape } from "./LocalRoute.js"
import { LoopbackRoute } from "./LoopbackRoute.js"
import type { EnqueueOptions, RouteShape, TaskInfo, TaskRequest } from "./Route.js"
import type { TaskDefinition } from "./TaskDefinition.js"
import { TaskHandlers } from "./TaskHandlers.js"
import { TasksConfig, type TasksConfigInput, type TasksConfigShape } from "./TasksConfig.js"
import { WorkerRoute } from "./WorkerRoute.js"

/**
 * The service behind {@link enqueueHttpTask}.
 *
 * @since 0.1.0
 * @category models
 */
export interface TasksClientShape {
  /** See {@link enqueueHttpTask}. */
  readonly enqueueHttpTask: (
    path: string,
    payload: unknown,
    options?: EnqueueOptions
  ) => Effect.Effect<TaskInfo, ImportError | ConfigError | DispatchError>
  /** See {@link enqueueTask}: the same call, with the payload encoded by the definition's Schema first. */
  readonly enqueueTask: <A, I>(
    definition: TaskDefinition<A, I>,
    payload: A,
    options?: EnqueueOptions
  ) => Effect.Effect<TaskInfo, ImportError | ConfigError | DispatchError>
  /** See {@link cancelTask}. */
  readonly cancelTask: (name: string) => Effect.Effect<void, CancelError | ImportError>
  /** Waits until every in-process task accepted before the call has ended (see {@link drain}). */
  readonly drain: Effect.Effect<void>
  /** The route a task for `path` takes under this configuration (nothing is dispatched). */
  readonly route: (path: string) => Route
}

/**
 * Every route service that {@link TasksClient.layerWithoutRoutes} needs.
 *
 * @since 0.1.0
 * @category models
 */
export type Routes = DryRunRoute | LocalRoute | WorkerRoute | LoopbackRoute | CloudTasksRoute

/** Routes whose dispatch leaves the process: each such enqueue is a span, the trace parent of the task. */
const leaves: ReadonlySet<Route> = new Set(["cloud-tasks", "worker", "loopback"])

/**
 * Why a task for `path` has no handler to run it, when the application registered
 * handlers and none for `path`; `undefined` otherwise (an application that only
 * enqueues registers none, and every path is its to send).
 */
const handlerProblem = (registered: ReadonlyArray<string>, path: string): string | undefined =>
  registered.length === 0 || registered.includes(path) ? undefined : `No task handler is registered for ${path}. ` +
    `Registered: ${registered.join(", ")}. Register it with TaskHandlers.layer({ "${path}": handler }) ` +
    `or taskHandlersLayer(handleTask(definition, handler)), provided to the client's layer`

/** The route services a client dispatches to: those its configuration can choose. */
interface RouteServices {
  readonly "dry-run"?: RouteShape | undefined
  readonly "cloud-tasks"?: RouteShape | undefined
  readonly loopback?: RouteShape | undefined
  readonly worker?: RouteShape | undefined
  readonly local?: LocalRouteShape | undefined
}

/** The route of `decision`, built because the configuration can choose it. */
const routeOf = (routes: RouteServices, route: Route): RouteShape => routes[route]!

/** A W3C `traceparent` with a valid (not all-zero) trace ID and parent ID. */
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-0[01]$/

/**
 * The W3C `traceparent` of `span`; none for a span without valid W3C IDs, such as the
 * no-op span of `Layer.setTracerEnabled(false)` (its IDs are "noop"). The header is
 * checked whole: the IDs of effect's own spans are strings built a character at a time,
 * and one pass over the header reads them once (benchmarks B1 and B2).
 */
const traceparentOf = (span: Tracer.Span): Option.Option<string> => {
  const traceparent = `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`
  return TRACEPARENT.test(traceparent) ? Option.some(traceparent) : Option.none()
}

const make = (config: TasksConfigShape, routes: RouteServices) => Effect.gen(function*() {
  const registered = Option.match(yield* Effect.serviceOption(TaskHandlers), {
    onNone: () => [],
    onSome: ({ handlers }) => Array.from(handlers.keys())
  })
  // A decision is one of a few shared values: its events are built once each.
  const eventsByDecision = new Map<Decision, ReadonlyArray<Log.Event>>()
  const eventsOf = (decision: Decision) => {
    let events = eventsByDecision.get(decision)
    if (events === undefined) eventsByDecision.set(decision, events = decisionEvents(config, decision))
    return events
  }

  /** Refuses the call for `path` before anything is sent: its first event, the refusal's, then the error. */
  const refuse = (path: string, decision: Decision, refusal: Refusal) =>
    Effect.zipRight(
      Log.events([startEvent, [
        Log.LogLevel.Error,
        refusal.reason === "no_handler" ? Events.handlerMissing : Events.invalidRequest,
        refusal.message,
        { reason: refusal.reason }
      ]], { path }),
      Effect.fail(new DispatchError({ ...refusal, path, route: decision.route }))
    )
  /** Hands `request` to the route of `decision`, after the events of the decision. */
  const dispatch = (decision: Decision, request: TaskRequest) =>
    Effect.zipRight(Log.events(eventsOf(decision), { path: request.path }), routeOf(routes, decision.route).dispatch(request))

  const enqueue = (path: string, payload: unknown, options: EnqueueOptions | undefined, encoder?: PayloadEncoder) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const decision = decideRoute(config, path)
      const request = makeTaskRequest(path, payload, options, now, encoder)
      if (Either.isLeft(request)) return refuse(path, decision, request.left)
      const missing = handlerProblem(registered, path)
      if (missing !== undefined) return refuse(path, decision, { reason: "no_handler", message: missing })
      if (!leaves.has(decision.route)) return dispatch(decision, request.right)
      // The span is handed to the route as the task's trace parent rather than provided
      // as the parent of what the route does: nothing there opens spans of its own.
      return useSpan(
        "TasksClient.enqueueHttpTask",
        { attributes: { "tasks.path": path, "tasks.route": decision.route }, kind: "producer" },
        (span) => dispatch(decision, { ...request.right, traceparent: traceparentOf(span) })
      )
    })

  return TasksClient.of({
    enqueueHttpTask: (path, payload, options) => enqueue(path, payload, options),
    enqueueTask: (definition, payload, options) =>
      enqueue(definition.path, payload, {
        ...options,
        dispatchDeadline: options?.dispatchDeadline ?? definition.dispatchDeadline,
        queue: options?.queue ?? definition.queue
      }, schemaEncoder(definition)),
    cancelTask: (name) => {
      const cannot = (why: string) =>
        Effect.fail(new CancelError({ message: `${name} cannot be cancelled: ${why}`, name, reason: "not_cancellable" }))
      if (name.startsWith("local-direct-dispatch/")) {
        return routes.local === undefined ? cannot("this configuration runs no task in-process") : routes.local.cancel(name)
      }
      if (name.startsWith("projects/")) {
        const cancel = routes["cloud-tasks"]?.cancel
        return cancel === undefined ? cannot("this configuration sends no task to Cloud Tasks") : cancel(name)
      }
      if (name.startsWith("dev-worker-dispatch-") || name.startsWith("local-loopback-")) {
        return cannot("the worker and loopback routes send a task at once; it was already sent")
      }
      if (name.startsWith("dry-run-")) return cannot("a dry run queues nothing")
      return Effect.fail(
        new CancelError({ message: `${name} is not a task name that enqueueHttpTask returns`, name, reason: "invalid_name" })
      )
    },
    drain: routes.local?.drain ?? Effect.void,
    route: (path) => decideRoute(config, path).route
  })
})

/** The definition's Schema encoding, its failure described by field. */
const schemaEncoder = <A, I>(definition: TaskDefinition<A, I>): PayloadEncoder => {
  const encode = Schema.encodeEither(definition.schema, { errors: "all" })
  return (payload) =>
    Either.mapLeft(encode(payload as A), (cause) => ({
      message: taskPayloadError(definition.path, cause).message,
      cause
    }))
}

/**
 * A client with the routes `config` can choose, each built in the client's scope: one
 * layer for the whole client, where a layer per route would cost more than the rest of
 * a cold start (benchmark B4), and the modules of routes it cannot choose never load.
 */
const withSelectedRoutes = (config: TasksConfigShape) =>
  Effect.gen(function*() {
    const can = selectableRoutes(config)
    const routes: { -readonly [R in keyof RouteServices]: RouteServices[R] } = {}
    if (can.has("dry-run")) routes["dry-run"] = dryRunRoute
    if (can.has("cloud-tasks")) routes["cloud-tasks"] = yield* Effect.flatMap(loadCloudRoute, (m) => m.makeCloudRoute({}))
    if (can.has("loopback")) routes.loopback = yield* Effect.flatMap(loadHttpRoute, (m) => m.makeHttpRoute(m.loopbackSpec))
    if (can.has("worker")) routes.worker = yield* Effect.flatMap(loadHttpRoute, (m) => m.makeHttpRoute(m.workerSpec))
    if (can.has("local")) routes.local = yield* Effect.flatMap(loadLocalQueue, (m) => m.makeLocalQueue({}))
    return yield* make(config, routes)
  }).pipe(Effect.provideService(TasksConfig, config))

/**
 * The task client, as a service.
 *
 * @since 0.1.0
 * @category services
 */
export class TasksClient extends Context.Tag("effect-http-tasks/TasksClient")<TasksClient, TasksClientShape>() {
  /**
   * The client alone: configuration and every route left open, to provide one
   * route with a fake in a test (then {@link TasksClient.routes} for the rest).
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerWithoutRoutes: Layer.Layer<TasksClient, never, TasksConfig | Routes> = Layer.effect(
    this,
    Effect.gen(function*() {
      return yield* make(yield* TasksConfig, {
        "dry-run": yield* DryRunRoute,
        "cloud-tasks": yield* CloudTasksRoute,
        loopback: yield* LoopbackRoute,
        worker: yield* WorkerRoute,
        local: yield* LocalRoute
      })
    })
  )
  /**
   * Every default route: dry-run, local, worker and loopback over fetch, cloud-tasks.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly routes: Layer.Layer<Routes, never, TasksConfig> = Layer.mergeAll(
    DryRunRoute.layer,
    LocalRoute.layer,
    WorkerRoute.layer,
    LoopbackRoute.layer,
    CloudTasksRoute.layer
  )
  /**
   * The client with the default routes, configuration left open. Only the routes the
   * configuration can choose are built (and their modules loaded).
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerWithoutConfig: Layer.Layer<TasksClient, never, TasksConfig> = Layer.scoped(
    this,
    Effect.flatMap(TasksConfig, withSelectedRoutes)
  )
  /**
   * The one-line edge for applications: configuration read through effect's
   * `Config`, every default route wired in. Provide the application's
   * `TaskHandlers` to it (`Layer.provide`) for the local route to run them and for
   * a path without a handler to be refused on every route; an application that
   * only enqueues provides none.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<TasksClient, ConfigError> = Layer.scoped(
    this,
    Effect.flatMap(TasksConfig.fromConfig(), withSelectedRoutes)
  )
  /**
   * The same, with explicit configuration values.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerWith = (input: TasksConfigInput): Layer.Layer<TasksClient, ConfigError> =>
    Layer.scoped(this, Effect.flatMap(TasksConfig.make(input), withSelectedRoutes))
}

/**
 * Dispatches a background HTTP task to the route that configuration selects:
 * dry-run, Cloud Tasks in production, or in dev/test the HTTP loopback, the
 * worker server or an in-process handler.
 *
 * @example
 * ```ts
 * const info = yield* enqueueHttpTask("/api/tasks/transcribe", { filename: "a.wav", user_id: "123" })
 * // info.name: "local-direct-dispatch/default/<20 digits>" in dev, "projects/…/tasks/…" in production
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const enqueueHttpTask = (
  path: string,
  payload: unknown,
  options?: EnqueueOptions
): Effect.Effect<TaskInfo, ImportError | ConfigError | DispatchError, TasksClient> =>
  Effect.flatMap(TasksClient, (client) => client.enqueueHttpTask(path, payload, options))

/**
 * Enqueues a task from its definition: the payload is checked against the
 * definition's Schema at compile time, encoded with it at run time, then handed to
 * `enqueueHttpTask` with the definition's dispatch deadline (the options' own
 * `dispatchDeadline` wins).
 *
 * A payload that fails the Schema at run time is a `DispatchError` with reason
 * `invalid_payload`, and nothing is sent. Its `route` is the one configuration
 * would have chosen.
 *
 * @example
 * ```ts
 * const info = yield* enqueueTask(Transcribe, { filename: "gs://bucket/a.wav", user_id: "123" })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const enqueueTask = <A, I>(
  definition: TaskDefinition<A, I>,
  payload: NoInfer<A>,
  options?: EnqueueOptions
): Effect.Effect<TaskInfo, ImportError | ConfigError | DispatchError, TasksClient> =>
  Effect.flatMap(TasksClient, (client) => client.enqueueTask(definition, payload, options))

/**
 * One task of a batch for {@link enqueueHttpTasks}.
 *
 * @since 0.1.0
 * @category models
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
 * @category accessors
 */
export const enqueueHttpTasks = (
  tasks: Iterable<TaskSpec>,
  options?: { readonly concurrency?: number | undefined }
): Effect.Effect<Array<Either.Either<TaskInfo, ImportError | ConfigError | DispatchError>>, never, TasksClient> =>
  Effect.flatMap(TasksClient, (client) =>
    Effect.suspend(() => {
      const specs = Array.from(tasks)
      const results: Array<Either.Either<TaskInfo, ImportError | ConfigError | DispatchError>> = new Array(specs.length)
      let next = 0
      // A few workers that each take the next task when theirs is done, rather than a fiber
      // per task: forking one per task cost a batch of Cloud Tasks enqueues a tenth of its
      // throughput (benchmark B2).
      const worker = Effect.suspend(() => {
        let index = 0
        return Effect.whileLoop({
          while: () => next < specs.length,
          body: () => {
            const { options, path, payload } = specs[index = next++]!
            return Effect.either(client.enqueueHttpTask(path, payload, options))
          },
          step: (result) => {
            results[index] = result
          }
        })
      })
      // Below 1, or NaN, is 1.
      const workers = Math.min(specs.length, Math.max(1, Math.floor(options?.concurrency ?? 10) || 1))
      return Effect.as(Effect.all(Array.from({ length: workers }, () => worker), { concurrency: "unbounded", discard: true }), results)
    }))

/**
 * Cancels a task by the name its `TaskInfo` gave. In production it is Cloud Tasks'
 * `DeleteTask`; in-process, a task that is scheduled, due or waiting for a retry is
 * dropped, and a running attempt ends with no retry after it (as Cloud Tasks does).
 * Worker and loopback tasks were sent at once and a dry run queues nothing: those are
 * refused with reason `not_cancellable`; a task that no longer waits is `not_found`.
 *
 * @example
 * ```ts
 * const info = yield* enqueueHttpTask("/api/tasks/reminder", { user }, { delay: "1 day" })
 * // … the user unsubscribed:
 * yield* cancelTask(info.name)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const cancelTask = (name: string): Effect.Effect<void, CancelError | ImportError, TasksClient> =>
  Effect.flatMap(TasksClient, (client) => client.cancelTask(name))

/**
 * Waits until every in-process task accepted before the call has ended: succeeded,
 * dropped, exhausted or cancelled. A task that keeps failing is retried as its queue
 * says; once its next attempt is further away than the local route's `drainPatience`
 * (10 seconds), drain stops waiting for it and logs `tasks.dev.drain_gave_up` (the task
 * stays queued, and closing the layer logs it as abandoned).
 *
 * @since 0.1.0
 * @category accessors
 */
export const drain: Effect.Effect<void, never, TasksClient> = Effect.flatMap(TasksClient, (client) => client.drain)
