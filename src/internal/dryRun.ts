/**
 * The dry-run route's work: a name, one event, nothing run.
 */
import { Clock, Effect } from "effect"
import { Events } from "../Events.js"
import type { RouteShape, TaskInfo, TaskRequest } from "../Route.js"
import * as Log from "./log.js"
import { isoTimestamp } from "./routing.js"

/** Returns `dry-run-<ISO timestamp>` and logs `tasks.dry_run`. */
export const dryRunRoute: RouteShape = {
  dispatch: (request: TaskRequest) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const info: TaskInfo = { name: `dry-run-${isoTimestamp(now)}`, route: "dry-run" }
      return Effect.as(Log.info(Events.dryRun, "Dry run: task logged, not executed", { path: request.path, ...info }), info)
    })
}
