/**
 * The local route: an in-process queue that behaves like Cloud Tasks, on the same engine
 * as the Cloud Tasks emulator. Each task runs its registered handler in-process, with its
 * queue's settings: retries with Cloud Tasks' backoff, rate and concurrency limits
 * (for queues defined with `defineQueue`), `delay` / `scheduleTime`, named-task dedup,
 * the dispatch deadline. The handler reads in `TaskContext` what Cloud Tasks would send
 * (task and queue name, retry and execution counts, previous response, retry reason,
 * ETA) and whether the attempt is the last. Handler failures are logged and retried, as
 * a queue would, never raised to the enqueuer. With `TASKS_DASHBOARD_PORT` (in
 * `TasksConfig`) it serves the emulator's dashboard over its queue on 127.0.0.1, closed
 * with the layer.
 *
 * @since 0.1.0
 */
import { Context, type Duration, Effect, Layer } from "effect"
import type { CancelError } from "./Errors.js"
import { loadLocalQueue } from "./internal/routeModules.js"
import type { RouteShape } from "./Route.js"
import type { TasksConfig } from "./TasksConfig.js"

/**
 * The local route's service: `dispatch`, `drain` to wait for the tasks, and `cancel`.
 *
 * @since 0.1.0
 * @category models
 */
export interface LocalRouteShape extends RouteShape {
  /**
   * Waits until every task accepted before the call has ended (succeeded, dropped,
   * exhausted, cancelled). A task that keeps failing is retried as Cloud Tasks would;
   * once its next attempt is further away than `drainPatience`, drain stops waiting for
   * it and logs `tasks.dev.drain_gave_up` (the task stays queued).
   */
  readonly drain: Effect.Effect<void>
  /** Drops a task that has not finished (a running attempt ends, with no retry after it). */
  readonly cancel: (name: string) => Effect.Effect<void, CancelError>
}

/**
 * Options of {@link LocalRoute.layerWith}.
 *
 * @since 0.1.0
 * @category models
 */
export interface LocalRouteOptions {
  /**
   * How long closing the layer drains the accepted tasks (as `drain` does) before it
   * interrupts the attempts still running (each logged as `tasks.dev.task_interrupted`)
   * and logs each task left waiting as `tasks.dev.task_abandoned`. Default 10 seconds.
   */
  readonly gracePeriod?: Duration.DurationInput | undefined
  /**
   * How far away a task's next attempt may be for `drain` to wait for it. Default 10
   * seconds: under Cloud Tasks' default backoff a task that keeps failing is tried 8
   * times in about 13 seconds, then `drain` gives up on it.
   */
  readonly drainPatience?: Duration.DurationInput | undefined
}

/**
 * The local route, as a service.
 *
 * @since 0.1.0
 * @category services
 */
export class LocalRoute extends Context.Tag("effect-http-tasks/LocalRoute")<LocalRoute, LocalRouteShape>() {
  /**
   * The local route with explicit options. It runs the `TaskHandlers` in context,
   * if any: without them, every task is refused with reason `no_handler`.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerWith = (options: LocalRouteOptions = {}): Layer.Layer<LocalRoute, never, TasksConfig> =>
    Layer.scoped(this, Effect.flatMap(loadLocalQueue, ({ makeLocalQueue }) => makeLocalQueue(options)))
  /**
   * The local route with a 10 second grace period on close and a drain patience of 10 seconds.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<LocalRoute, never, TasksConfig> = LocalRoute.layerWith()
}
