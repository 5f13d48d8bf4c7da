/**
 * The local route: runs the registered handler in-process on its own supervised
 * fiber and returns at once, as a queue would. Handler failures are logged, not
 * raised to the enqueuer.
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Either, Layer, Option } from "effect"
import { DispatchError } from "./Errors.js"
import { Events } from "./Events.js"
import { parseTaskJson } from "./internal/json.js"
import * as Log from "./internal/log.js"
import { makeSupervisor } from "./internal/supervisor.js"
import type { RouteShape, TaskInfo, TaskRequest } from "./Route.js"
import { runTask } from "./internal/runHandler.js"
import { type TaskHandler, TaskHandlers } from "./TaskHandlers.js"

/**
 * The local route's service: `dispatch`, and `drain` to wait for the handlers.
 *
 * @since 0.1.0
 * @category models
 */
export interface LocalRouteShape extends RouteShape {
  /** Waits until every handler started before the call has finished. */
  readonly drain: Effect.Effect<void>
}

/**
 * Options of {@link LocalRoute.layerWith}.
 *
 * @since 0.1.0
 * @category models
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
  const handlers = Option.match(yield* Effect.serviceOption(TaskHandlers), {
    onNone: (): ReadonlyMap<string, TaskHandler> => new Map(),
    onSome: ({ handlers }) => handlers
  })
  const supervisor = yield* makeSupervisor({
    gracePeriod: Duration.decode(options.gracePeriod ?? Duration.seconds(10)),
    closeTimedOutEvent: Events.closeTimedOut,
    interruptedEvent: Events.taskInterrupted,
    interruptedMessage: "In-process task interrupted"
  })

  const dispatch = (request: TaskRequest) => {
    const fields = { path: request.path, route: "local" }
    const refuse = (message: string, reason: DispatchError["reason"]) =>
      Effect.zipRight(
        Log.error(reason === "no_handler" ? Events.handlerMissing : Events.taskRefused, message, { ...fields, reason }),
        Effect.fail(new DispatchError({ message, path: request.path, route: "local", reason }))
      )
    const handler = handlers.get(request.path)
    if (handler === undefined) {
      return refuse(
        `No in-process handler is registered for ${request.path}: provide TaskHandlers to the client's layer`,
        "no_handler"
      )
    }
    if (supervisor.closing()) {
      return refuse(`The local route is closing; the task for ${request.path} was not started`, "shutting_down")
    }
    // The handler gets the payload as an HTTP endpoint would: after JSON, then its decoding.
    const task = Effect.suspend(() => runTask(handler, Either.getOrThrow(parseTaskJson(request.body)))).pipe(
      Effect.matchCauseEffect({
        onSuccess: () => Log.info(Events.taskSucceeded, "In-process task succeeded", fields),
        // An interruption by closing the layer is logged by the supervisor.
        onFailure: (cause) => Log.error(Events.taskFailed, "In-process task failed", fields, cause)
      })
    )
    const delayed = Option.match(request.scheduleTime, {
      onNone: () => task,
      onSome: (at) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.zipRight(Effect.sleep(Math.max(0, at.getTime() - now)), task))
    })
    return supervisor.fork(delayed, fields).pipe(
      Effect.zipRight(Log.debug(Events.dispatch, "Task dispatched to an in-process handler", fields)),
      Effect.as(dispatched)
    )
  }

  return LocalRoute.of({ dispatch, drain: supervisor.drain })
})

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
  static readonly layerWith = (options: LocalRouteOptions = {}): Layer.Layer<LocalRoute> =>
    Layer.scoped(this, make(options))
  /**
   * The local route with a 10 second grace period on close.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<LocalRoute> = LocalRoute.layerWith()
}
