/**
 * The worker route: in dev/test, POSTs worker paths to the dev worker server at
 * `WORKER_URL_BASE` and reports its answer to the caller.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import { loadHttpRoute } from "./internal/routeModules.js"
import type { RouteShape } from "./Route.js"
import type { TasksConfig } from "./TasksConfig.js"

/**
 * The worker route, as a service.
 *
 * @since 0.1.0
 * @category services
 */
export class WorkerRoute extends Context.Tag("effect-http-tasks/WorkerRoute")<WorkerRoute, RouteShape>() {
  /**
   * The worker route over Node's HTTP client, with a connection pool closed with the layer.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<WorkerRoute, never, TasksConfig> = Layer.scoped(
    this,
    Effect.flatMap(loadHttpRoute, ({ makeHttpRoute, workerSpec }) => makeHttpRoute(workerSpec))
  )
}
