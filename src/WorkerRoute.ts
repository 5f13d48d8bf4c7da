/**
 * The worker route: in dev/test, POSTs worker paths to the dev worker server at
 * `WORKER_URL_BASE` and reports its answer to the caller.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { Context, Layer } from "effect"
import { Events } from "./Events.js"
import type { HttpRouteSpec } from "./internal/httpRoute.js"
import { httpRouteOverFetch, httpRouteWith } from "./internal/lazyHttpRoute.js"
import type { RouteShape } from "./Route.js"
import type { TasksConfig } from "./TasksConfig.js"

const spec: HttpRouteSpec = {
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
    Layer.effect(this, httpRouteWith(spec))
  /**
   * The worker route over the platform's fetch client, whose modules load on the
   * first dispatch.
   *
   * @since 0.1.0
   */
  static readonly layer: Layer.Layer<WorkerRoute, never, TasksConfig> = Layer.effect(this, httpRouteOverFetch(spec))
}
