/**
 * The worker and loopback routes load @effect/platform's HTTP client modules
 * (about 60 ms and 18 modules at start-up) only when they are first used: a
 * process that dispatches through Cloud Tasks, dry-run or in-process never loads
 * them. Only types are imported statically here.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { Effect } from "effect"
import { ImportError } from "../Errors.js"
import { Events } from "../Events.js"
import type { RouteShape } from "../Route.js"
import type { TasksConfig } from "../TasksConfig.js"
import type { HttpRouteSpec } from "./httpRoute.js"
import * as Log from "./log.js"

/** The worker route: worker paths to the dev worker server at `WORKER_URL_BASE`. */
export const workerSpec: HttpRouteSpec = {
  route: "worker",
  variable: "WORKER_URL_BASE",
  baseUrl: (config) => config.workerUrlBase,
  namePrefix: "dev-worker-dispatch",
  events: {
    success: Events.workerSuccess,
    timeout: Events.workerTimeout,
    httpError: Events.workerError,
    unreachable: Events.workerException
  }
}

/** The loopback route: every task to `TASKS_URL_BASE`, as Cloud Tasks would. */
export const loopbackSpec: HttpRouteSpec = {
  route: "loopback",
  variable: "TASKS_URL_BASE",
  baseUrl: (config) => config.urlBase,
  namePrefix: "local-loopback",
  events: {
    success: Events.loopbackSuccess,
    timeout: Events.loopbackError,
    httpError: Events.loopbackError,
    unreachable: Events.loopbackError
  }
}

/** The route over the `HttpClient` in context; its modules load when the layer is built. */
export const httpRouteWith = (
  spec: HttpRouteSpec
): Effect.Effect<RouteShape, never, TasksConfig | HttpClient.HttpClient> =>
  Effect.flatMap(Effect.promise(() => import("./httpRoute.js")), ({ makeHttpRoute }) => makeHttpRoute(spec))

/**
 * The route over the platform's fetch client; its modules load on the first
 * dispatch. A module that cannot be loaded is an `ImportError` for that dispatch,
 * logged as the route's failure to reach its endpoint. Only a route that loaded
 * is kept: a first dispatch interrupted while loading leaves the next one to load
 * it again (`Effect.cached` would keep the interruption).
 */
export const httpRouteOverFetch = (
  spec: HttpRouteSpec,
  /** @internal the module to load instead of the platform's fetch client (tests). */
  fetchModule = "@effect/platform/FetchHttpClient"
): Effect.Effect<RouteShape, never, TasksConfig> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<TasksConfig>()
    const lock = yield* Effect.makeSemaphore(1)
    let loaded: RouteShape | undefined
    const load = lock.withPermits(1)(Effect.suspend(() =>
      loaded !== undefined ? Effect.succeed(loaded) : Effect.tryPromise({
        try: () => import(fetchModule) as Promise<typeof import("@effect/platform/FetchHttpClient")>,
        catch: (cause) =>
          new ImportError({
            message: `The ${spec.route} route needs ${fetchModule}, which could not be loaded. ` +
              `Install @effect/platform with: npm install @effect/platform`,
            module: fetchModule,
            cause
          })
      }).pipe(
        Effect.flatMap((FetchHttpClient) => Effect.provide(httpRouteWith(spec), FetchHttpClient.layer)),
        Effect.provide(context),
        Effect.tap((route) => {
          loaded = route
        })
      )
    ))
    return {
      dispatch: (request) =>
        loaded !== undefined ? loaded.dispatch(request) : load.pipe(
          Effect.tapError((error) =>
            Log.error(spec.events.unreachable, error.message, { path: request.path, route: spec.route })
          ),
          Effect.flatMap((route) => route.dispatch(request))
        )
    }
  })
