/**
 * The dry-run route: logs the task and returns a name; nothing runs.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer } from "effect"
import { Events } from "./Events.js"
import * as Log from "./internal/log.js"
import { isoTimestamp } from "./internal/routing.js"
import type { RouteShape, TaskInfo, TaskRequest } from "./Route.js"

const dispatch = (request: TaskRequest) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const info: TaskInfo = { name: `dry-run-${isoTimestamp(now)}`, route: "dry-run" }
    return Effect.as(
      Log.info(Events.dryRun, "Dry run: task logged, not executed", { path: request.path, ...info }),
      info
    )
  })

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
  static readonly layer: Layer.Layer<DryRunRoute> = Layer.succeed(this, DryRunRoute.of({ dispatch }))
}
