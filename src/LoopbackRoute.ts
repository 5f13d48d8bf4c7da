/**
 * The loopback route: in dev/test with `TASKS_FORCE_HTTP_LOOPBACK`, POSTs every task to
 * `TASKS_URL_BASE`, as Cloud Tasks would, and reports the answer to the caller.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { Context, Layer } from "effect"
import { httpRouteOverFetch, httpRouteWith, loopbackSpec } from "./internal/lazyHttpRoute.js"
import type { RouteShape } from "./Route.js"
import type { TasksConfig } from "./TasksConfig.js"

/**
 * The loopback route, as a service.
 *
 * @since 0.1.0
 */
export class LoopbackRoute extends Context.Tag("effect-http-tasks/LoopbackRoute")<LoopbackRoute, RouteShape>() {
  /**
   * The loopback route over a given `HttpClient`.
   *
   * @since 0.1.0
   */
  static readonly layerWithoutHttpClient: Layer.Layer<LoopbackRoute, never, TasksConfig | HttpClient.HttpClient> =
    Layer.effect(this, httpRouteWith(loopbackSpec))
  /**
   * The loopback route over the platform's fetch client, whose modules load on the
   * first dispatch.
   *
   * @since 0.1.0
   */
  static readonly layer: Layer.Layer<LoopbackRoute, never, TasksConfig> = Layer.effect(this, httpRouteOverFetch(loopbackSpec))
}
