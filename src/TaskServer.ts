/**
 * `effect-http-tasks/server`: the receiving side. The handlers registered in
 * `TaskHandlers` (the same ones the local route runs in dev/test) served over HTTP
 * the way Cloud Tasks, the worker route and the loopback route call them.
 *
 * One POST endpoint per handler path:
 *
 * | answer | when |
 * |---|---|
 * | 401 | `X-Tasks-Auth` is missing or wrong (compared in constant time); the handler never runs |
 * | 413 | the body is larger than the Cloud Tasks task limit (1 MB); refused before it is parsed |
 * | 400 | the body is not JSON |
 * | 422 | the body fails the task's payload Schema; the answer names the fields, not the values |
 * | 200 | the handler succeeded |
 * | 202 | `Prefer: respond-async`: auth and payload are fine, the handler runs in the background |
 * | 500 | the handler failed or died, so that Cloud Tasks retries |
 * | 404 | no handler is registered for the path |
 *
 * The handler's span continues the trace of the request's W3C `traceparent`, so it
 * is a descendant of the span that enqueued the task. Each handler can read the
 * delivery's Cloud Tasks headers with `yield* TaskContext`.
 *
 * @since 0.1.0
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Context, type Duration, Effect, Layer } from "effect"
import type { ConfigError } from "./Errors.js"
import { Events } from "./Events.js"
import * as Log from "./internal/log.js"
import { makeRouter } from "./internal/server/router.js"
import type { TaskHandlers } from "./TaskHandlers.js"
import { TaskServerConfig, type TaskServerConfigInput } from "./TaskServerConfig.js"

export { TaskContext, taskContextHeaders, type TaskContextShape } from "./TaskContext.js"
export { TaskServerConfig, type TaskServerConfigInput, type TaskServerConfigShape } from "./TaskServerConfig.js"

/**
 * Options of the task server.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskServerOptions {
  /**
   * How long closing the server waits for running handlers (respond-async ones
   * included) before it interrupts them, each interruption logged as
   * `tasks.server.interrupted`. Default 30 seconds.
   */
  readonly gracePeriod?: Duration.DurationInput | undefined
  /** The largest body accepted, in bytes; a larger one is answered 413. Default 1,048,569 (the Cloud Tasks task limit). */
  readonly maxBodyBytes?: number | undefined
  /**
   * What to do when no `TASKS_AUTH` is configured (production with an OIDC service
   * account only): `false` (the default) refuses every request with 401; `true`
   * serves without the `X-Tasks-Auth` check, for a platform that authenticates the
   * OIDC token itself (e.g. Cloud Run with authentication required). A configured
   * secret is always checked.
   */
  readonly allowUnauthenticated?: boolean | undefined
}

/**
 * The task server's service.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskServerShape {
  /** One POST route per handler path; mount it in any `@effect/platform` HTTP app. */
  readonly router: HttpRouter.HttpRouter
  /** The task paths served. */
  readonly paths: ReadonlyArray<string>
  /** Waits until every handler started so far (respond-async ones included) has finished. */
  readonly drain: Effect.Effect<void>
}

const redactAuthHeader = (names: ReadonlyArray<string | RegExp>): ReadonlyArray<string | RegExp> => [
  ...names,
  "x-tasks-auth"
]

/**
 * Keeps `X-Tasks-Auth` out of the span attributes that the platform's HTTP tracer
 * records for every request header. Wrap the layer that serves an app mounting the
 * task router (`TaskServer.serve` does this already).
 *
 * @example
 * ```ts
 * HttpServer.serve(app).pipe(withRedactedAuthHeader)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const withRedactedAuthHeader = <A, E, R>(layer: Layer.Layer<A, E, R>): Layer.Layer<A, E, R> =>
  Layer.locallyWith(layer, Headers.currentRedactedNames, redactAuthHeader)

/** The router, with a path that has no handler answered 404 and logged as a warning naming it. */
const withNotFound = (router: HttpRouter.HttpRouter) =>
  Effect.catchTag(router, "RouteNotFound", (error) =>
    Log.warn(Events.serverNotFound, `No task handler for ${error.request.method} ${error.request.url}`, {
      path: error.request.url,
      status: 404
    }).pipe(Effect.as(HttpServerResponse.unsafeJson({ error: "not_found", message: "No task handler for this path" }, {
      status: 404
    }))))

/**
 * The task server, as a service: the router and the fibers of its handlers, which
 * closing the layer waits for (within the grace period).
 *
 * @since 0.1.0
 * @category services
 */
export class TaskServer extends Context.Tag("effect-http-tasks/TaskServer")<TaskServer, TaskServerShape>() {
  /**
   * The server over the `TaskServerConfig` in context.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerWithoutConfig = (
    options: TaskServerOptions = {}
  ): Layer.Layer<TaskServer, never, TaskHandlers | TaskServerConfig> => Layer.scoped(this, makeRouter(options))
  /**
   * The server with its own configuration (`APP_ENV`, `TASKS_AUTH`) read through
   * effect's `Config`. It reads none of the enqueuer's variables: a service that only
   * receives tasks deploys without them.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<TaskServer, ConfigError, TaskHandlers> = Layer.provide(
    TaskServer.layerWithoutConfig(),
    TaskServerConfig.layer
  )
  /**
   * The server with explicit configuration values (e.g. `{ appEnv: "test", auth: "s3cret" }`).
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerWith = (
    config: TaskServerConfigInput,
    options: TaskServerOptions = {}
  ): Layer.Layer<TaskServer, ConfigError, TaskHandlers> =>
    Layer.provide(TaskServer.layerWithoutConfig(options), TaskServerConfig.layerWith(config))
  /**
   * Serves the task router on the `HttpServer` in context (e.g.
   * `NodeHttpServer.layer(createServer, { port: 8001 })`), with `X-Tasks-Auth`
   * redacted from span attributes. It logs where it listens
   * (`tasks.server.listening`), and answers a path with no handler 404 with the
   * warning `tasks.server.not_found` naming the path.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly serve: Layer.Layer<never, never, TaskServer | HttpServer.HttpServer> = withRedactedAuthHeader(
    Layer.unwrapEffect(Effect.map(TaskServer, ({ paths, router }) =>
      Layer.effectDiscard(HttpServer.addressFormattedWith((address) =>
        Log.info(Events.serverListening, `The task server listens on ${address}`, { address, paths: paths.join(",") })
      )).pipe(Layer.provideMerge(HttpServer.serve(withNotFound(router))))
    ))
  )
}

/**
 * The task router of the `TaskServer` in context, to mount in an existing
 * `@effect/platform` app.
 *
 * @example
 * ```ts
 * const app = Effect.map(router, (tasks) => HttpRouter.empty.pipe(HttpRouter.get("/", home), HttpRouter.concat(tasks)))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const router: Effect.Effect<HttpRouter.HttpRouter, never, TaskServer> = Effect.map(
  TaskServer,
  (server) => server.router
)

/**
 * A web-standard handler, `(request: Request) => Promise<Response>`, for any
 * framework or runtime that speaks the Fetch API. The layer is built on the first
 * request; `dispose` waits for running handlers (within the grace period), then
 * releases it.
 *
 * @example
 * ```ts
 * const { handler, dispose } = toWebHandler(
 *   TaskServer.layer.pipe(Layer.provide(handlers))
 * )
 * // e.g. Hono: app.post("/api/tasks/*", (c) => handler(c.req.raw))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const toWebHandler = <E>(
  layer: Layer.Layer<TaskServer, E>,
  options: { readonly middleware?: HttpMiddleware.HttpMiddleware | undefined } = {}
): {
  readonly handler: (request: Request) => Promise<Response>
  readonly dispose: () => Promise<void>
} => {
  const { dispose, handler } = HttpApp.toWebHandlerLayerWith(
    Layer.merge(layer, Layer.fiberRefLocallyScopedWith(Headers.currentRedactedNames, redactAuthHeader)),
    {
      toHandler: (runtime) => Effect.succeed(withNotFound(Context.get(runtime.context, TaskServer).router)),
      middleware: options.middleware
    }
  )
  return { handler: (request) => handler(request), dispose }
}
