/**
 * The dry-run route: logs the task and returns a name; nothing runs.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import { Events } from "./Events.js"
import * as Log from "./internal/log.js"
import { currentTimeMillis } from "./internal/request.js"
import { isoTimestamp } from "./internal/routing.js"
import type { RouteShape, TaskRequest } from "./Route.js"

/**
 * The dry-run route, as a service.
 *
 * @since 0.1.0
 */
export class DryRunRoute extends Context.Tag("effect-http-tasks/DryRunRoute")<DryRunRoute, RouteShape>() {
  /**
   * Returns `dry-run-<ISO timestamp>` and logs `tasks.dry_run`.
   *
   * @since 0.1.0
   */
  static readonly layer: Layer.Layer<DryRunRoute> = Layer.succeed(
    this,
    DryRunRoute.of({
      dispatch: (request: TaskRequest) =>
        Effect.withFiberRuntime((fiber) => {
          const name = `dry-run-${isoTimestamp(currentTimeMillis(fiber))}`
          return Log.before(
            fiber,
            [[Log.LogLevel.Info, Events.dryRun, "Dry run: task logged, not executed", { name, route: "dry-run" }]],
            { path: request.path },
            Effect.succeed({ name, route: "dry-run" as const })
          )
        })
    })
  )
}
