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

/** The route over the platform's fetch client; its modules load on the first dispatch. */
export const httpRouteOverFetch = (spec: HttpRouteSpec): Effect.Effect<RouteShape, never, TasksConfig> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<TasksConfig>()
    const route = yield* Effect.cached(
      Effect.promise(() => import("@effect/platform/FetchHttpClient")).pipe(
        Effect.flatMap((FetchHttpClient) => Effect.provide(httpRouteWith(spec), FetchHttpClient.layer)),
        Effect.provide(context)
      )
    )
    return { dispatch: (request) => Effect.flatMap(route, (loaded) => loaded.dispatch(request)) }
  })
