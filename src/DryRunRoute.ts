/**
 * The dry-run route: logs the task and returns a name; nothing runs.
 *
 * @since 0.1.0
 */
import { Context, Layer } from "effect"
import { dryRunRoute } from "./internal/dryRun.js"
import type { RouteShape } from "./Route.js"

/**
 * The dry-run route, as a service.
 *
 * @since 0.1.0
 * @category services
 */
export class DryRunRoute extends Context.Tag("effect-http-tasks/DryRunRoute")<DryRunRoute, RouteShape>() {
  /**
   * Returns `dry-run-<ISO timestamp>` and logs `tasks.dry_run`.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<DryRunRoute> = Layer.succeed(this, DryRunRoute.of(dryRunRoute))
}
