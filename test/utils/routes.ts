/**
 * Fake routes that record what reaches them, to test the routing decision and
 * validation through the public API without dispatching anything.
 */
import { Effect, Layer } from "effect"
import {
  CloudTasksRoute,
  DryRunRoute,
  LocalRoute,
  LoopbackRoute,
  type Route,
  type TaskRequest,
  type Routes,
  WorkerRoute
} from "../../src/index.js"

export interface Dispatched {
  readonly route: Route
  readonly request: TaskRequest
}

/** Every route replaced by one that records the task and returns `fake-<route>`. */
export const recordingRoutes = (dispatched: Array<Dispatched>): Layer.Layer<Routes> => {
  const fake = (route: Route) => ({
    dispatch: (request: TaskRequest) =>
      Effect.sync(() => {
        dispatched.push({ route, request })
        return { name: `fake-${route}`, route }
      })
  })
  return Layer.mergeAll(
    Layer.succeed(DryRunRoute, fake("dry-run")),
    Layer.succeed(CloudTasksRoute, fake("cloud-tasks")),
    Layer.succeed(LoopbackRoute, fake("loopback")),
    Layer.succeed(WorkerRoute, fake("worker")),
    Layer.succeed(LocalRoute, { ...fake("local"), drain: Effect.void, cancel: () => Effect.void })
  )
}
