/**
 * The local route: runs the registered handler in-process on its own supervised
 * fiber and returns at once, as a queue would. Handler failures are logged, not
 * raised to the enqueuer.
 *
 * @since 0.1.0
 */
import { Cause, Context, Duration, Effect, Layer, Option } from "effect"
import { DispatchError } from "./Errors.js"
import { type EventName, Events } from "./Events.js"
import { runOnOwnFiber } from "./internal/captured.js"
import * as Log from "./internal/log.js"
import { currentTimeMillis } from "./internal/request.js"
import { makeSupervisor } from "./internal/supervisor.js"
import type { RouteShape, TaskInfo, TaskRequest } from "./Route.js"
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

const dispatched: TaskInfo = { name: "local-direct-dispatch", route: "local" }

const make = Effect.fnUntraced(function*(options: LocalRouteOptions) {
  const { handlers } = yield* TaskHandlers
  const gracePeriod = Duration.decode(options.gracePeriod ?? Duration.seconds(10))
  const { closing, drain, fork } = yield* makeSupervisor({
    gracePeriod,
    interruptedEvent: Events.taskInterrupted,
    interruptedMessage: "In-process task interrupted"
  })

  const dispatch: LocalRouteShape["dispatch"] = (request: TaskRequest) =>
    Effect.withFiberRuntime((fiber) => {
      const fields = { path: request.path, route: "local" }
      const refuse = (event: EventName, message: string, reason: DispatchError["reason"]) =>
        Log.before(
          fiber,
          [[Log.LogLevel.Error, event, message]],
          fields,
          Effect.fail(new DispatchError({ message, path: request.path, route: "local", reason }))
        )
      const handler = handlers.get(request.path)
      if (handler === undefined) {
        return refuse(Events.handlerMissing, `No in-process handler is registered for ${request.path}`, "no_handler")
      }
      if (closing()) {
        const message = `The local route is closing; the task for ${request.path} was not started`
        return refuse(Events.taskInterrupted, message, "shutting_down")
      }
      // The handler gets the payload as an HTTP endpoint would: after JSON.
      const handle = Effect.suspend(() => runOnOwnFiber(handler, JSON.parse(request.body)))
      const task = Option.isNone(request.scheduleTime) ? handle : Effect.zipRight(
        Effect.sleep(Math.max(0, request.scheduleTime.value.getTime() - currentTimeMillis(fiber))),
        handle
      )
      // An interruption by closing the layer is logged by the supervisor.
      const failed = (cause: Cause.Cause<unknown>) =>
        Log.error(Events.taskFailed, "In-process task failed", fields, cause)
      // The handler's fiber inherits this one's log level: with Info filtered out, a
      // success costs it no step at all.
      if (!Log.enabled(fiber, Log.LogLevel.Info)) {
        return fork(Effect.catchAllCause(task, failed), fields, () => dispatched)
      }
      const outcome = Effect.matchCauseEffect(task, {
        onSuccess: () => Log.info(Events.taskSucceeded, "In-process task succeeded", fields),
        onFailure: failed
      })
      return fork(outcome, fields, () => dispatched).pipe(
        Effect.tap(Log.info(Events.dispatch, "Task dispatched to an in-process handler", fields))
      )
    })

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
