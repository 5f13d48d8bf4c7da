/**
 * The loopback route: in dev/test with `TASKS_FORCE_HTTP_LOOPBACK`, POSTs every task to
 * `TASKS_URL_BASE`, as Cloud Tasks would, and reports the answer to the caller.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import { loadHttpRoute } from "./internal/routeModules.js"
import type { RouteShape } from "./Route.js"
import type { TasksConfig } from "./TasksConfig.js"

/**
 * The loopback route, as a service.
 *
 * @since 0.1.0
 * @category services
 */
export class LoopbackRoute extends Context.Tag("effect-http-tasks/LoopbackRoute")<LoopbackRoute, RouteShape>() {
  /**
   * The loopback route over Node's HTTP client, with a connection pool closed with the layer.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<LoopbackRoute, never, TasksConfig> = Layer.scoped(
    this,
    Effect.flatMap(loadHttpRoute, ({ makeHttpRoute, loopbackSpec }) => makeHttpRoute(loopbackSpec))
  )
}
