/**
 * The dry-run route: logs the task and returns a name; nothing runs.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer } from "effect"
import { Events } from "./Events.js"
import * as Log from "./internal/log.js"
import { isoTimestamp } from "./internal/routing.js"
import { traced } from "./internal/span.js"
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
      dispatch: traced("DryRunRoute.dispatch", (request: TaskRequest) => Effect.gen(function*() {
        const name = `dry-run-${isoTimestamp(yield* Clock.currentTimeMillis)}`
        yield* Log.info(Events.dryRun, "Dry run: task logged, not executed", {
          path: request.path,
          name,
          route: "dry-run"
        })
        return { name, route: "dry-run" as const }
      }))
    })
  )
}
