/**
 * The local route: runs the registered handler in-process on its own supervised
 * fiber and returns at once, as a queue would. Handler failures are logged, not
 * raised to the enqueuer.
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Layer, Option } from "effect"
import { DispatchError } from "./Errors.js"
import { Events } from "./Events.js"
import * as Log from "./internal/log.js"
import { traced } from "./internal/span.js"
import { makeSupervisor } from "./internal/supervisor.js"
import type { RouteShape, TaskRequest } from "./Route.js"
import { TaskHandlers } from "./TaskHandlers.js"

/**
 * The local route's service: `dispatch`, and `drain` to wait for the handlers.
 *
 * @since 0.1.0
 */
export interface LocalRouteShape extends RouteShape {
  /** Waits until every handler started so far has finished. */
  readonly drain: Effect.Effect<void>
}

/**
 * Options of {@link LocalRoute.layerWith}.
 *
 * @since 0.1.0
 */
export interface LocalRouteOptions {
  /**
   * How long closing the layer waits for in-flight handlers before it interrupts
   * them (each interruption is logged as `tasks.dev.task_interrupted`). Default 10 seconds.
   */
  readonly gracePeriod?: Duration.DurationInput | undefined
}


const make = Effect.fnUntraced(function*(options: LocalRouteOptions) {
  const { handlers } = yield* TaskHandlers
  const gracePeriod = Duration.decode(options.gracePeriod ?? Duration.seconds(10))
  const { drain, run } = yield* makeSupervisor({ gracePeriod, interruptedEvent: Events.taskInterrupted })

  const dispatch: LocalRouteShape["dispatch"] = traced("LocalRoute.dispatch", (request: TaskRequest) => Effect.gen(function*() {
    const handler = handlers.get(request.path)
    if (handler === undefined) {
      const message = `No in-process handler is registered for ${request.path}`
      yield* Log.error(Events.handlerMissing, message, { path: request.path, route: "local" })
      return yield* new DispatchError({ message, path: request.path, route: "local", reason: "no_handler" })
    }
    // The handler gets the payload as an HTTP endpoint would: after JSON.
    const handle = Effect.suspend(() => handler(JSON.parse(request.body)))
    const task = Option.isNone(request.scheduleTime) ? handle : Effect.zipRight(
      Effect.sleep(Math.max(0, request.scheduleTime.value.getTime() - (yield* Clock.currentTimeMillis))),
      handle
    )
    const fields = { path: request.path, route: "local" }
    const started = yield* task.pipe(
      Effect.matchCauseEffect({
        onSuccess: () => Log.info(Events.taskSucceeded, "In-process task succeeded", fields),
        onFailure: (cause) =>
          Log.error(Events.taskFailed, "In-process task failed", fields, cause)
      }),
      Effect.onInterrupt(() => Log.warn(Events.taskInterrupted, "In-process task interrupted", fields)),
      run
    )
    if (Option.isNone(started)) {
      const message = `The local route is closing; the task for ${request.path} was not started`
      yield* Log.error(Events.taskInterrupted, message, fields)
      return yield* new DispatchError({ message, path: request.path, route: "local", reason: "shutting_down" })
    }
    yield* Log.info(Events.dispatch, "Task dispatched to an in-process handler", fields)
    return { name: "local-direct-dispatch", route: "local" as const }
  }))

  return LocalRoute.of({ dispatch, drain })
})

/**
 * The local route, as a service.
 *
 * @since 0.1.0
 */
export class LocalRoute extends Context.Tag("effect-http-tasks/LocalRoute")<LocalRoute, LocalRouteShape>() {
  /**
   * The local route with explicit options.
   *
   * @since 0.1.0
   */
  static readonly layerWith = (options: LocalRouteOptions = {}): Layer.Layer<LocalRoute, never, TaskHandlers> =>
    Layer.scoped(this, make(options))
  /**
   * The local route with a 10 second grace period on close.
   *
   * @since 0.1.0
   */
  static readonly layer: Layer.Layer<LocalRoute, never, TaskHandlers> = LocalRoute.layerWith()
}
