/**
 * The in-process queue of the local route: an engine of the Cloud Tasks emulator with a
 * clock on effect's `Clock` and a delivery that runs each attempt's handler on a fiber of
 * its own, with what Cloud Tasks would send in `TaskContext`. Loaded only by a
 * configuration that can run tasks in-process.
 */
import { Cause, Context, Duration, Effect, Either, type Exit, type Fiber, type FiberRefs, Option, Runtime, RuntimeFlags } from "effect"
import { CancelError, DispatchError, type NonRetryableError } from "../Errors.js"
import { type EventName, Events } from "../Events.js"
import type { LocalRouteOptions, LocalRouteShape } from "../LocalRoute.js"
import type { TaskInfo, TaskRequest } from "../Route.js"
import { TaskContext, type TaskContextShape } from "../TaskContext.js"
import { type TaskHandler, TaskHandlers } from "../TaskHandlers.js"
import type { TaskQueue } from "../TaskQueue.js"
import { TasksConfig } from "../TasksConfig.js"
import { Churn } from "./churn.js"
import { makeEffectClock } from "./effectClock.js"
import type { DashboardActions } from "./emulator/dashboard.js"
import { ApiError, Errors as ApiErrors, Status } from "./engine/apiError.js"
import type { EngineClock } from "./engine/clock.js"
import type { Deliver, DeliveryResult } from "./engine/deliver.js"
import { Engine } from "./engine/engine.js"
import type { StoredTask } from "./engine/model.js"
import { shortName } from "./engine/names.js"
import type { AttemptEnded } from "./engine/scheduler.js"
import { parseTaskJson } from "./json.js"
import {
  DEFAULT_DISPATCH_DEADLINE_MS,
  MAX_TASK_BYTES,
  MIN_DISPATCH_DEADLINE_MS,
  QUEUE_ID,
  QUEUE_NAME_REUSE_MS,
  TASK_ID,
  TASK_ID_REUSE_MS
} from "./limits.js"
import * as Log from "./log.js"
import { type Outcome, outcomeOf } from "./outcome.js"
import { queueSettings } from "./queues.js"
import { loadDashboardServer } from "./routeModules.js"
import { makeSupervisor } from "./supervisor.js"

/** The prefix of the names of in-process tasks: `local-direct-dispatch/<queue>/<task id>`. */
const NAME_PREFIX = "local-direct-dispatch"

/** The engine's message for a task over Cloud Tasks' size limit. */
const TASK_TOO_LARGE = ApiErrors.taskTooLarge().message

/** What the route keeps of a live task besides what the engine stores. */
interface LocalTask {
  readonly info: TaskInfo
  readonly path: string
  readonly handler: TaskHandler
  /** The enqueuing fiber's runtime: the task runs and logs as that fiber's child would. */
  readonly runtime: Runtime.Runtime<never>
  /** The enqueuing fiber's services, with the handler's own over them. */
  readonly services: Context.Context<never>
  readonly fields: Log.EventFields
  /** Why the handler dropped the task (its `NonRetryableError`), once it has. */
  dropped?: NonRetryableError
  /** The fiber of the attempt in flight, if one is. */
  running?: Fiber.RuntimeFiber<unknown, unknown> | undefined
}

/** A drain in progress: the tasks it still waits for, and what to do when it may return. */
interface DrainWaiter {
  readonly waiting: Set<string>
  /**
   * Tasks drain stopped waiting for: their next attempt is beyond the patience, or their
   * queue is paused (from the dashboard).
   */
  readonly gaveUp: Array<[task: LocalTask, stored: StoredTask, paused: boolean]>
  done: (() => void) | undefined
}

/**
 * Whether two snapshots of fiber refs hold the same value of every ref (a snapshot shares its
 * values with the fiber's refs; a fiber whose refs changed and changed back, or another run of
 * the same program, holds a new snapshot of the same values).
 */
// Stryker disable next-line BlockStatement: equivalent, answering no (undefined) makes a new runtime: only costs work
const sameRefs = (a: FiberRefs.FiberRefs, b: FiberRefs.FiberRefs): boolean => {
  if (a.locals.size !== b.locals.size) return false
  for (const [ref, values] of b.locals) {
    if (a.locals.get(ref) !== values) return false
  }
  // Stryker disable next-line BooleanLiteral: equivalent, answering no makes a new runtime: only costs work
  return true
}

/**
 * The fiber's refs as they are. Effect's `getFiberRefs` first records the fiber's flags in
 * them, which copies every ref on every call: the snapshot the fiber holds is read instead
 * where there is one (a field of effect 3's fiber runtime), and its flags are taken apart.
 */
const refsOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): FiberRefs.FiberRefs =>
  // Stryker disable next-line LogicalOperator: equivalent, effect's copy holds the same values (only costs work)
  (fiber as unknown as { readonly _fiberRefs?: FiberRefs.FiberRefs })._fiberRefs ?? fiber.getFiberRefs()

/** What the queue records of an outcome: the answer Cloud Tasks would have seen. */
const deliveryResult = (outcome: Outcome): DeliveryResult =>
  outcome._tag === "RetryAfter"
    ? { _tag: "Response", status: outcome.status, retryAfter: outcome.retryAfter }
    : { _tag: "Response", status: outcome.status, retryAfter: undefined, dropped: outcome._tag === "Dropped" }

/**
 * What the test kit (`effect-http-tasks/testing`) changes in an in-process queue: it runs
 * recorded tasks on a clock it moves itself, and follows each attempt.
 */
export interface LocalQueueInternals {
  /** The engine's clock. Default: effect's `Clock` of the building fiber. */
  readonly clock?: EngineClock | undefined
  /** Called as each attempt starts. */
  readonly onAttemptStarted?: (() => void) | undefined
  /** Called after each attempt of a live task, with the name its `TaskInfo` gave and what comes next. */
  readonly onAttemptEnded?: ((name: string, attempt: number, next: AttemptEnded["next"]) => void) | undefined
}

/**
 * The in-process queue over the `TasksConfig` (and `TaskHandlers`, if any) in context; it
 * closes with the scope (draining within the grace period). Besides the route's service it
 * has `attemptsDone`, which waits until every attempt started so far has ended.
 */
export const makeLocalQueue = Effect.fnUntraced(function*(options: LocalRouteOptions, internals: LocalQueueInternals = {}) {
  const config = yield* TasksConfig
  const handlers = Option.match(yield* Effect.serviceOption(TaskHandlers), {
    onNone: (): ReadonlyMap<string, TaskHandler> => new Map(),
    onSome: ({ handlers }) => handlers
  })
  const patience = Duration.toMillis(Duration.decode(options.drainPatience ?? Duration.seconds(10)))
  const location = Option.match(config.location, {
    onNone: () => "projects/local/locations/local",
    onSome: ({ location, project }) => `projects/${project}/locations/${location}`
  })
  const defaultQueue = Option.match(config.queue, { onNone: () => "default", onSome: ({ queue }) => queue })
  const baseUrl = Option.getOrElse(config.urlBase, () => "http://localhost")
  let live = new Map<string, LocalTask>()
  const liveChurn = new Churn()
  /** Forgets a live task; the map is replaced by a copy now and then (`Churn`). */
  // Stryker disable next-line BlockStatement: equivalent, an ended task left in the map is only memory (benchmark B5h)
  const unlive = (name: string) => {
    live.delete(name)
    // Stryker disable next-line ConditionalExpression: equivalent, the copy only ends a chain of dead tables (benchmark B5)
    if (liveChurn.removed(live.size)) live = new Map(live)
  }
  /** Whether a dashboard was asked for: its actions may pause queues, its page shows failures. */
  const withDashboard = Option.isSome(config.dashboardPort)
  /**
   * Why recent attempts failed (the handler's cause), by task and attempt, for the dashboard's
   * page; kept only when there is a dashboard, the latest 1000.
   */
  const failures = new Map<string, string>()
  const failureKey = (task: string, attempt: number) => `${task}#${attempt}`
  /** The drains in progress: each waits for its tasks, by engine name. */
  const drains = new Set<DrainWaiter>()
  let closing = false

  /**
   * Logs the event `log` builds as the task's own fiber would (its logger, level and
   * annotations); when its level filters the event out, nothing is built at all.
   */
  const logAs = (task: LocalTask, level: Log.LogLevel.LogLevel, log: () => Effect.Effect<void>) => {
    // Stryker disable next-line ConditionalExpression: equivalent, the logger filters the same level
    if (Log.enabledIn(task.runtime, level)) Runtime.runSync(task.runtime)(log())
  }

  const clock = internals.clock ?? (yield* makeEffectClock)
  // Closed after the attempts below were drained or interrupted: what is left never ran to its end.
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      engine.close()
      for (const [name, task] of live) {
        const stored = storedTask(name)
        // Stryker disable next-line ConditionalExpression: equivalent, the engine holds every live task when the route closes
        if (stored === undefined || stored.running) continue
        logAs(task, Log.LogLevel.Warning, () =>
          Log.warn(
            Events.taskAbandoned,
            `The local route closed before ${task.info.name} ran to its end (${stored.dispatchCount} attempt(s) made)`,
            { ...task.fields, attempts: stored.dispatchCount }
          ))
      }
      live.clear()
    })
  )
  const gracePeriod = Duration.decode(options.gracePeriod ?? Duration.seconds(10))
  // The grace period is spent draining (below): what still runs after it is interrupted at once.
  const supervisor = yield* makeSupervisor({
    gracePeriod: Duration.zero,
    waited: gracePeriod,
    closeTimedOutEvent: Events.closeTimedOut,
    interruptedEvent: Events.taskInterrupted,
    interruptedMessage: "In-process task interrupted"
  })

  /** One attempt: the handler on a fiber of the task's own, answering as the task server would. */
  const deliver: Deliver = (request, done) => {
    // The engine delivers only live tasks: the route registers a task as the engine creates it
    // (its first attempt starts on a later turn) and forgets it once the engine has ended it.
    const task = live.get(request.task)!
    const { context } = request
    const taskContext: TaskContextShape = {
      taskName: Option.some(context.taskId),
      queueName: Option.some(context.queueId),
      retryCount: Option.some(context.retryCount),
      executionCount: Option.some(context.executionCount),
      eta: Option.some(new Date(context.etaMs)),
      previousResponse: context.previousResponse === undefined ? Option.none() : Option.some(Number(context.previousResponse)),
      retryReason: Option.fromNullable(context.retryReason),
      lastAttempt: Option.some(request.lastAttempt)
    }
    const attempt = Effect.suspend(() => task.handler.decode(Either.getOrThrow(parseTaskJson(request.body.toString())))).pipe(
      Effect.flatMap((payload) => task.handler.handle(payload) as Effect.Effect<unknown, unknown>),
      Effect.exit,
      Effect.flatMap((exit: Exit.Exit<unknown, unknown>) => {
        const outcome = outcomeOf(exit)
        // Stryker disable next-line ConditionalExpression: equivalent, `dropped` is read only for a task reported dropped
        if (outcome._tag === "Dropped") task.dropped = outcome.error
        if (withDashboard && exit._tag === "Failure") {
          failures.set(failureKey(request.task, request.attempt), Cause.pretty(exit.cause))
          if (failures.size > 1000) failures.delete(failures.keys().next().value!)
        }
        done(deliveryResult(outcome))
        if (outcome._tag === "Succeeded" || outcome._tag === "Dropped") return Effect.void
        const level = request.lastAttempt ? Log.LogLevel.Error : Log.LogLevel.Warning
        return Log.logEvent(
          level,
          Events.taskFailed,
          `In-process task failed (attempt ${request.attempt}, answered ${outcome.status} as the task server would)`,
          { ...task.fields, attempt: request.attempt, status: outcome.status },
          // Stryker disable next-line ConditionalExpression: equivalent, a success is never logged as failed
          exit._tag === "Failure" ? exit.cause : Cause.empty
        )
      })
    )
    // The attempt's fiber starts with its services already in place (the handler's, and
    // TaskContext) rather than providing them around the handler: a context update per
    // attempt costs more than the rest of an in-process dispatch (benchmark B5).
    const runtime = Runtime.make({
      context: Context.add(task.services, TaskContext, taskContext),
      fiberRefs: task.runtime.fiberRefs,
      runtimeFlags: task.runtime.runtimeFlags
    })
    internals.onAttemptStarted?.()
    const fiber = supervisor.track(Runtime.runFork(runtime)(attempt), task.fields)
    task.running = fiber
    logAs(task, Log.LogLevel.Debug, () =>
      Log.debug(Events.taskAttempt, `Attempt ${request.attempt} of ${task.info.name}`, {
        ...task.fields,
        attempt: request.attempt
      }))
    // An aborted attempt ends here: it runs interruptible (`runtimeOf`), so its outcome above is
    // never handled (an interrupted fiber skips the handlers of `Effect.exit`).
    return { abort: () => fiber.unsafeInterruptAsFork(fiber.id()) }
  }

  /**
   * Whether the queue `name` (a stored task's) is paused: only the dashboard pauses a queue
   * while the route runs, and no engine queue is deleted then (`engineQueues`).
   */
  const isPaused = (name: string) => engine.getQueue(name).state === "PAUSED"

  /**
   * Tells each drain that `name` ended, or now waits for an attempt beyond the patience, or
   * in a paused queue.
   */
  const settle = (name: string, stored: StoredTask | undefined) => {
    const now = clock.now()
    for (const drain of drains) {
      if (!drain.waiting.has(name)) continue
      if (stored === undefined) {
        drain.waiting.delete(name)
      } else if (!stored.running) {
        // Only the dashboard pauses a queue: without one, no lookup per task (benchmark B5 drains).
        const later = stored.scheduleTime - now > patience
        const paused = !later && withDashboard && isPaused(stored.queueName)
        if (later || paused) {
          drain.waiting.delete(name)
          const task = live.get(name)
          // Stryker disable next-line ConditionalExpression: equivalent, `settle` hears of a stored task only while it is live
          if (task !== undefined) drain.gaveUp.push([task, stored, paused])
        }
      }
      if (drain.waiting.size === 0) drain.done?.()
    }
  }

  /** Logs what follows an attempt, and forgets a task that has ended. */
  const onAttemptEnded = ({ attempt, endedAt, next, task: stored }: AttemptEnded) => {
    const task = live.get(stored.name)
    if (task === undefined) return
    task.running = undefined
    internals.onAttemptEnded?.(task.info.name, attempt, next)
    const fields = () => ({ ...task.fields, attempts: attempt })
    switch (next) {
      case "retrying": {
        logAs(task, Log.LogLevel.Info, () =>
          Log.info(
            Events.taskRetrying,
            `Retrying ${task.info.name} in ${
              Duration.format(Duration.millis(stored.scheduleTime - endedAt))
            }, as its queue's backoff says`,
            { ...fields(), next_attempt: new Date(stored.scheduleTime).toISOString() }
          ))
        settle(stored.name, stored)
        return
      }
      case "succeeded":
        logAs(task, Log.LogLevel.Info, () => Log.info(Events.taskSucceeded, "In-process task succeeded", fields()))
        break
      case "dropped":
        logAs(task, Log.LogLevel.Error, () =>
          Log.logEvent(
            Log.LogLevel.Error,
            Events.taskDropped,
            // Stryker disable next-line OptionalChaining: equivalent, `dropped` is set before the task is reported dropped
            `${task.info.name} was dropped, not retried: ${task.dropped?.message}`,
            fields(),
            // Stryker disable next-line ConditionalExpression: equivalent, `dropped` is set before the task is reported dropped
            task.dropped === undefined ? Cause.empty : Cause.fail(task.dropped)
          ))
        break
      case "exhausted":
        logAs(task, Log.LogLevel.Error, () =>
          Log.error(
            Events.taskExhausted,
            `${task.info.name} failed ${attempt} time(s): its queue allows no more retries`,
            fields()
          ))
        break
      // Stryker disable next-line ConditionalExpression,StringLiteral: equivalent, the switch ends the same
      case "gone":
        break
    }
    unlive(stored.name)
    settle(stored.name, undefined)
  }

  const engine = new Engine({
    clock,
    deliver,
    onAttemptEnded,
    dedupWindowMs: TASK_ID_REUSE_MS,
    queueReuseWindowMs: QUEUE_NAME_REUSE_MS,
    minDispatchDeadlineMs: MIN_DISPATCH_DEADLINE_MS,
    // Only the dashboard reads the attempt log: without one, a finished task is not kept (benchmark B5).
    attemptLogLimit: withDashboard ? 1000 : 0,
    // Stryker disable next-line BooleanLiteral: equivalent, no in-process handler sees the tombstone
    tombstoneGenerated: false,
    // Stryker disable next-line StringLiteral: equivalent, the route refuses (closing) before the engine would
    closedMessage: "The local route is closed"
  })

  /** The engine's stored task `name`, if it is live. */
  const storedTask = (name: string): StoredTask | undefined => {
    // (A directive's comment reaches a catch clause only before its `catch`.)
    try {
      return engine.getTask(name)
    } /* Stryker disable next-line BlockStatement: equivalent, an empty catch returns undefined too */ catch {
      return undefined
    }
  }


  /**
   * The engine queue of each queue definition (`undefined`: the default queue) seen so far.
   * An engine queue is never deleted while the route runs (the dashboard purges and pauses
   * queues, it does not delete them), so a name once here stays valid.
   */
  const engineQueues = new Map<TaskQueue | undefined, string>()

  /**
   * The engine queue of a definition (`undefined`: the default queue), created the first time
   * it is seen: with the definition's settings, or unthrottled for a queue no definition describes.
   */
  const queueFor = (queue: TaskQueue | undefined): string => {
    let name = engineQueues.get(queue)
    // Stryker disable next-line ConditionalExpression: equivalent, `ensureQueue` of a queue that exists changes nothing
    if (name === undefined) {
      name = `${location}/queues/${queue?.id ?? defaultQueue}`
      const declared = queue !== undefined && Object.keys(queue.settings).length > 0
      engine.ensureQueue(name, declared ? Either.getOrThrow(queueSettings(queue)) : {}, declared)
      engineQueues.set(queue, name)
    }
    return name
  }

  /**
   * The services an attempt of `handler` runs with: the enqueuing fiber's, with the handler's
   * own over them. Merged once per handler and enqueuing context (usually one), not per task.
   */
  const servicesCache = new Map<TaskHandler, { readonly context: Context.Context<never>; readonly services: Context.Context<never> }>()
  const servicesFor = (handler: TaskHandler, context: Context.Context<never>): Context.Context<never> => {
    const cached = servicesCache.get(handler)
    // Stryker disable next-line ConditionalExpression: equivalent, merging again only costs work
    if (cached !== undefined && cached.context === context) return cached.services
    const services = Context.merge(context, handler.services) as Context.Context<never>
    // Stryker disable next-line ObjectLiteral: equivalent, a cache that never hits only costs work
    servicesCache.set(handler, { context, services })
    return services
  }

  /**
   * The runtime of the enqueuing fiber: its services, refs and flags. The latest runtime is
   * reused while the fiber's refs hold the same values (the same snapshot, or one equal to it)
   * and its flags are the same: one runtime for a loop of enqueues rather than one per task,
   * which every task would keep until it ends (benchmark B5). The latest is also what the
   * dashboard's replays run with, having no enqueuing fiber of their own. Its attempts are
   * interruptible even when it enqueued from an uninterruptible region (an acquire, a
   * finalizer): the deadline and closing stop them.
   */
  let lastRuntime: Runtime.Runtime<never> | undefined
  const runtimeOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>, flags: RuntimeFlags.RuntimeFlags): Runtime.Runtime<never> => {
    const fiberRefs = refsOf(fiber)
    const context = fiber.currentContext as Context.Context<never>
    const runtimeFlags = RuntimeFlags.enable(flags, RuntimeFlags.Interruption)
    // The services are a ref too (`currentContext`): equal refs mean equal services. The flags
    // are compared on their own: the snapshot may hold stale ones (`refsOf`).
    if (
      lastRuntime !== undefined && lastRuntime.runtimeFlags === runtimeFlags &&
      // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent, a runtime made anew only costs work
      (lastRuntime.fiberRefs === fiberRefs || sameRefs(lastRuntime.fiberRefs, fiberRefs))
    ) return lastRuntime
    return lastRuntime = Runtime.make({ context, fiberRefs, runtimeFlags })
  }

  /** Refuses the task of `request`, logging `event`. */
  const refuse = (request: TaskRequest, event: EventName, reason: DispatchError["reason"], message: string) =>
    Effect.zipRight(
      Log.error(event, message, { path: request.path, route: "local", reason }),
      Effect.fail(new DispatchError({ message, path: request.path, route: "local", reason }))
    )

  // One step per task, without a generator: an in-process dispatch is on the hot path (benchmark B5).
  const dispatch = (request: TaskRequest): Effect.Effect<TaskInfo, DispatchError> =>
    Effect.withFiberRuntime((fiber, status) => {
      const handler = handlers.get(request.path)
      if (handler === undefined) {
        return refuse(
          request,
          Events.handlerMissing,
          "no_handler",
          `No in-process handler is registered for ${request.path}: provide TaskHandlers to the client's layer`
        )
      }
      if (closing) {
        return refuse(request, Events.taskRefused, "shutting_down", `The local route is closing; the task for ${request.path} was not started`)
      }
      const queue = queueFor(Option.getOrUndefined(request.queue))
      let task: StoredTask
      try {
        task = engine.createTask(queue, {
          name: Option.isSome(request.taskId) ? `${queue}/tasks/${request.taskId.value}` : "",
          httpRequest: {
            url: baseUrl + request.path,
            httpMethod: "POST",
            headers: [...Object.entries(request.headers), ["Content-Type", "application/json"]],
            body: Buffer.from(request.body),
            oidcToken: undefined,
            oauthToken: undefined
          },
          scheduleTime: Option.isSome(request.scheduleTime) ? request.scheduleTime.value.getTime() : undefined,
          dispatchDeadlineMs: Option.isSome(request.dispatchDeadline)
            ? Duration.toMillis(request.dispatchDeadline.value)
            : DEFAULT_DISPATCH_DEADLINE_MS
        })
      } catch (error) {
        // Stryker disable next-line ConditionalExpression: equivalent, the engine throws only its ApiErrors
        if (!(error instanceof ApiError)) return Effect.die(error)
        if (error.code === Status.ALREADY_EXISTS) {
          // Stryker disable next-line ArrowFunction,StringLiteral: equivalent, only a named task can exist already
          const id = Option.getOrElse(request.taskId, () => "")
          return refuse(request, Events.createTaskFailed, "already_exists", `A task named ${id} already exists or ran recently`)
        }
        // A payload within the limit the client checks whose task (with its name, URL and headers)
        // is over Cloud Tasks' limit: refused as the cloud-tasks route refuses it.
        if (error.message === TASK_TOO_LARGE) {
          return refuse(
            request,
            Events.createTaskFailed,
            "payload_too_large",
            `The task for ${request.path}, with its name, URL and headers, would be over the ${MAX_TASK_BYTES} bytes Cloud Tasks accepts`
          )
        }
        return Effect.die(error)
      }
      const info: TaskInfo = { name: `${NAME_PREFIX}/${shortName(task.queueName)}/${task.id}`, route: "local" }
      const runtime = runtimeOf(fiber, status.runtimeFlags)
      const fields = { path: request.path, route: "local", name: info.name }
      live.set(task.name, { info, path: request.path, handler, runtime, services: servicesFor(handler, runtime.context), fields })
      return Log.enabledIn(runtime, Log.LogLevel.Debug)
        ? Effect.as(Log.debug(Events.dispatch, "Task dispatched to the in-process queue", fields), info)
        : Effect.succeed(info)
    })

  /** Forgets a live task that ended without an attempt's outcome (cancelled, deleted or purged). */
  const forget = (name: string) => {
    // Stryker disable next-line OptionalChaining: equivalent, a task cancelled, deleted or purged is live
    const running = live.get(name)?.running
    unlive(name)
    // A running attempt goes on (with no retry after it); cancelled is the task's outcome,
    // so closing does not also log it as interrupted.
    // Stryker disable next-line ConditionalExpression: equivalent, silencing no fiber does nothing
    if (running !== undefined) supervisor.silence(running)
    settle(name, undefined)
  }

  /** The engine's name of the in-process task `name`, or `undefined` when it is not one. */
  const engineName = (name: string): string | undefined => {
    const [prefix, queue, id, ...rest] = name.split("/")
    return prefix === NAME_PREFIX && queue !== undefined && QUEUE_ID.test(queue) && id !== undefined && TASK_ID.test(id) &&
        rest.length === 0
      ? `${location}/queues/${queue}/tasks/${id}`
      : undefined
  }

  const cancel = (name: string) =>
    Effect.suspend(() => {
      const full = engineName(name)
      if (full === undefined) {
        return Effect.fail(
          new CancelError({ message: `${name} is not the name of an in-process task`, name, reason: "invalid_name" })
        )
      }
      // The engine ends a task before the route hears of it, and the end may start the next
      // attempt at once: its handler finds the task ended, though the route has not forgotten it.
      const task = live.get(full)
      if (
        storedTask(full) === undefined ||
        // Stryker disable next-line ConditionalExpression: equivalent, a task the engine holds is live
        task === undefined
      ) {
        return Effect.fail(new CancelError({ message: `No in-process task ${name} is waiting to run`, name, reason: "not_found" }))
      }
      engine.deleteTask(full)
      forget(full)
      return Log.info(Events.taskCancelled, `${name} was cancelled`, task.fields)
    })

  const report = (gaveUp: ReadonlyArray<[LocalTask, StoredTask, boolean]>) =>
    Effect.forEach(gaveUp, ([task, stored, paused]) =>
      Log.warn(
        Events.drainGaveUp,
        paused
          ? `drain does not wait for ${task.info.name}: its queue is paused; it stays queued until the queue is resumed or the layer closes`
          : `drain does not wait for ${task.info.name}: after ${stored.dispatchCount} attempt(s) its next one is due at ${
            new Date(stored.scheduleTime).toISOString()
          }; it stays queued until the layer closes`,
        { ...task.fields, attempts: stored.dispatchCount, ...(paused ? { reason: "queue_paused" } : {}) }
      ), { discard: true })

  const drain = Effect.suspend(() => {
    const waiter: DrainWaiter = { waiting: new Set(live.keys()), gaveUp: [], done: undefined }
    drains.add(waiter)
    for (const name of live.keys()) settle(name, storedTask(name))
    const wait = waiter.waiting.size === 0 ? Effect.void : Effect.async<void>((resume) => {
      waiter.done = () => resume(Effect.void)
    })
    return wait.pipe(
      // Stryker disable next-line ArrowFunction: equivalent, a finished drain's waiter is never told again (only memory)
      Effect.ensuring(Effect.sync(() => drains.delete(waiter))),
      Effect.zipRight(Effect.suspend(() => report(waiter.gaveUp)))
    )
  })

  // Closing refuses new tasks and drains the accepted ones within the grace period (finalizers
  // are uninterruptible: the wait is made interruptible for the timeout to end it); then no
  // new attempt starts, running ones are interrupted, and what is left is logged as abandoned.
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      closing = true
      return Effect.interruptible(drain).pipe(Effect.timeoutOption(gracePeriod))
    }).pipe(
      Effect.zipRight(Effect.sync(() => {
        for (const { queue } of engine.inspect()) engine.pauseQueue(queue.name)
      }))
    )
  )

  /**
   * What the dashboard's buttons do to the in-process queue: the engine's operations, and what
   * the route keeps beside the engine follows (a deleted or purged task is cancelled, a replayed
   * one runs its handler). Built only when a dashboard is asked for.
   */
  const dashboardActions = (): DashboardActions => {
    const cancelled = (name: string, how: string) => {
      const task = live.get(name)
      forget(name)
      // Stryker disable next-line ConditionalExpression: equivalent, a task deleted or purged from the dashboard is live
      if (task !== undefined) {
        logAs(task, Log.LogLevel.Info, () => Log.info(Events.taskCancelled, `${task.info.name} was ${how} from the dashboard`, task.fields))
      }
    }
    return {
      run: (name) => engine.runTask(name).name,
      delete: (name) => {
        engine.deleteTask(name)
        cancelled(name, "deleted")
        return name
      },
      purge: (name) => {
        const queue = engine.purgeQueue(name)
        for (const task of [...live.keys()]) if (storedTask(task) === undefined) cancelled(task, "purged")
        return queue.name
      },
      pause: (name) => {
        const queue = engine.pauseQueue(name)
        // A drain in progress stops waiting for the tasks of a paused queue.
        for (const [task] of live) settle(task, storedTask(task))
        return queue.name
      },
      resume: (name) => engine.resumeQueue(name).name,
      replay: (name) => {
        // Stryker disable next-line ConditionalExpression,StringLiteral: equivalent, the dashboard closes before the queue begins closing
        if (closing) throw new ApiError(Status.FAILED_PRECONDITION, "The local route is closing")
        const task = engine.replayTask(name)
        // Registered before its first attempt, which the engine starts on a later turn. The
        // replay has no enqueuing fiber of its own: it runs as the latest enqueued task did.
        // Stryker disable next-line ConditionalExpression,StringLiteral: equivalent, every in-process task is an HTTP one
        const url = task.request._tag === "Http" ? task.request.url : ""
        // Stryker disable next-line StringLiteral: equivalent, every in-process task's URL starts with the base URL
        const path = url.startsWith(baseUrl) ? url.slice(baseUrl.length) : ""
        const handler = handlers.get(path)
        // Stryker disable next-line ConditionalExpression,LogicalOperator,BlockStatement: equivalent, a finished task had a handler, so a runtime was kept
        if (handler === undefined || lastRuntime === undefined) {
          engine.deleteTask(task.name)
          // Stryker disable next-line StringLiteral: equivalent, unreachable (above)
          throw new ApiError(Status.FAILED_PRECONDITION, `No in-process handler is registered for ${path}`)
        }
        // Stryker disable next-line StringLiteral: equivalent, only the name of a replay's `TaskInfo` is read
        const info: TaskInfo = { name: `${NAME_PREFIX}/${shortName(task.queueName)}/${task.id}`, route: "local" }
        live.set(task.name, {
          info,
          path,
          handler,
          runtime: lastRuntime,
          services: servicesFor(handler, lastRuntime.context),
          fields: { path, route: "local", name: info.name }
        })
        return task.name
      }
    }
  }

  // The dashboard, when asked for: its module loads only then, and a dispatch costs nothing more
  // without it. Closed first when the layer closes: no action reaches a closing queue.
  if (Option.isSome(config.dashboardPort)) {
    const port = config.dashboardPort.value
    const { serveDashboard } = yield* loadDashboardServer
    queueFor(undefined)
    yield* Effect.acquireRelease(
      Effect.tryPromise(() =>
        serveDashboard(engine, {
          port,
          title: "In-process task queue",
          loopbackOnly: true,
          actions: dashboardActions(),
          attemptDetail: (attempt) => failures.get(failureKey(attempt.task, attempt.attempt))
        })
      ),
      (server) => Effect.promise(server.close)
    ).pipe(
      Effect.matchEffect({
        onFailure: (error) =>
          Log.logEvent(
            Log.LogLevel.Error,
            Events.dashboardFailed,
            `The in-process queue's dashboard could not listen on 127.0.0.1:${port}; tasks run without it`,
            { route: "local", port },
            Cause.fail(error.error)
          ),
        onSuccess: ({ url }) =>
          Log.info(Events.dashboardListening, `Dashboard of the in-process queue: ${url}`, { route: "local", url })
      })
    )
  }

  return { dispatch, drain, cancel, attemptsDone: supervisor.drain } satisfies LocalRouteShape & {
    readonly attemptsDone: Effect.Effect<void>
  }
})

