/**
 * The worker and loopback routes load @effect/platform's HTTP client modules
 * (about 60 ms and 18 modules at start-up) only when they are first used: a
 * process that dispatches through Cloud Tasks, dry-run or in-process never loads
 * them. Only types are imported statically here.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { Effect } from "effect"
import type { RouteShape } from "../Route.js"
import type { TasksConfig } from "../TasksConfig.js"
import type { HttpRouteSpec } from "./httpRoute.js"

/** The route over the `HttpClient` in context; its modules load when the layer is built. */
export const httpRouteWith = (
  spec: HttpRouteSpec
): Effect.Effect<RouteShape, never, TasksConfig | HttpClient.HttpClient> =>
  Effect.flatMap(Effect.promise(() => import("./httpRoute.js")), ({ makeHttpRoute }) => makeHttpRoute(spec))

/**
 * The route over the platform's fetch client; its modules load on the first
 * dispatch. Only a route that loaded is kept: a first dispatch interrupted while
 * loading leaves the next one to load it again (`Effect.cached` would keep the
 * interruption).
 */
export const httpRouteOverFetch = (spec: HttpRouteSpec): Effect.Effect<RouteShape, never, TasksConfig> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<TasksConfig>()
    const lock = yield* Effect.makeSemaphore(1)
    let loaded: RouteShape | undefined
    const load = lock.withPermits(1)(Effect.suspend(() =>
      loaded !== undefined ? Effect.succeed(loaded) : Effect.promise(() => import("@effect/platform/FetchHttpClient")).pipe(
        Effect.flatMap((FetchHttpClient) => Effect.provide(httpRouteWith(spec), FetchHttpClient.layer)),
        Effect.provide(context),
        Effect.tap((route) => {
          loaded = route
        })
      )
    ))
    return {
      dispatch: (request) =>
        loaded !== undefined ? loaded.dispatch(request) : Effect.flatMap(load, (route) => route.dispatch(request))
    }
  })
