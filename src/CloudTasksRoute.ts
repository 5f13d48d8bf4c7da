/**
 * The cloud-tasks route: creates a Google Cloud Task that POSTs the payload to
 * `TASKS_URL_BASE + path` (worker paths to `WORKER_URL_BASE` when set).
 *
 * `@google-cloud/tasks` is an optional peer dependency, loaded on the first
 * dispatch (an {@link ImportError} when absent). One client serves the layer and
 * is closed with it. With `CLOUD_TASKS_EMULATOR_HOST` the client speaks plaintext
 * gRPC to an emulator.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import { loadCloudRoute } from "./internal/routeModules.js"
import type { RouteShape } from "./Route.js"
import type { TasksConfig } from "./TasksConfig.js"

/**
 * Options of {@link CloudTasksRoute.layerWith}.
 *
 * @since 0.1.0
 * @category models
 */
export interface CloudTasksRouteOptions {
  /**
   * Extra options for the `CloudTasksClient` constructor (e.g. `keyFilename`,
   * `credentials`). Ignored keys are passed through unchanged.
   */
  readonly clientOptions?: Readonly<Record<string, unknown>> | undefined
  /**
   * How many times a transient failure (`UNAVAILABLE`, `DEADLINE_EXCEEDED`) of a
   * named task's creation is retried, with jittered exponential backoff from 100 ms;
   * unnamed tasks are never retried, as a retry could create a duplicate. Default 3.
   */
  readonly transientRetries?: number | undefined
  /** @internal the module to load instead of `@google-cloud/tasks`. */
  readonly moduleName?: string | undefined
}

/**
 * The cloud-tasks route, as a service.
 *
 * @since 0.1.0
 * @category services
 */
export class CloudTasksRoute extends Context.Tag("effect-http-tasks/CloudTasksRoute")<CloudTasksRoute, RouteShape>() {
  /**
   * The cloud-tasks route with explicit options.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerWith = (options: CloudTasksRouteOptions = {}): Layer.Layer<CloudTasksRoute, never, TasksConfig> =>
    Layer.scoped(this, Effect.flatMap(loadCloudRoute, ({ makeCloudRoute }) => makeCloudRoute(options)))
  /**
   * The cloud-tasks route with default client options.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<CloudTasksRoute, never, TasksConfig> = CloudTasksRoute.layerWith()
}
