/**
 * The worker route: in dev/test, POSTs worker paths to the dev worker server at
 * `WORKER_URL_BASE` and reports its answer to the caller.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { Context, Layer } from "effect"
import { httpRouteOverFetch, httpRouteWith, workerSpec } from "./internal/lazyHttpRoute.js"
import type { RouteShape } from "./Route.js"
import type { TasksConfig } from "./TasksConfig.js"

/**
 * The worker route, as a service.
 *
 * @since 0.1.0
 */
export class WorkerRoute extends Context.Tag("effect-http-tasks/WorkerRoute")<WorkerRoute, RouteShape>() {
  /**
   * The worker route over a given `HttpClient`.
   *
   * @since 0.1.0
   */
  static readonly layerWithoutHttpClient: Layer.Layer<WorkerRoute, never, TasksConfig | HttpClient.HttpClient> =
    Layer.effect(this, httpRouteWith(workerSpec))
  /**
   * The worker route over the platform's fetch client, whose modules load on the
   * first dispatch.
   *
   * @since 0.1.0
   */
  static readonly layer: Layer.Layer<WorkerRoute, never, TasksConfig> = Layer.effect(this, httpRouteOverFetch(workerSpec))
}
