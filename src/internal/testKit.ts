/**
 * The test kit's work: a route service per route that records each task instead of
 * dispatching it, and the run of the recorded tasks through their handlers on an
 * in-process queue (the local route's, on the emulator's engine: one implementation of
 * outcomes, retries and backoff) whose clock moves from one due attempt to the next.
 */
import { Clock, Duration, Effect, Either, Option } from "effect"
import { CancelError, DispatchError, type Route } from "../Errors.js"
import type { LocalRouteShape } from "../LocalRoute.js"
import type { RouteShape, TaskInfo, TaskRequest } from "../Route.js"
import { TaskHandlers, type TaskHandlersShape } from "../TaskHandlers.js"
import { TasksConfig, type TasksConfigShape } from "../TasksConfig.js"
import type { RecordedTask, TestTasksShape } from "../TestTasks.js"
import { parseTaskJson } from "./json.js"
import { TASK_MAX_LIFETIME_MS } from "./limits.js"
import { isoTimestamp } from "./routing.js"
import { loadLocalQueue } from "./routeModules.js"
import { makeVirtualClock } from "./virtualClock.js"

/** A recorded task, with the request its route received and, while `runAll` runs it, its in-process name. */
interface Entry {
  task: RecordedTask
  readonly request: TaskRequest
  running: string | undefined
}

/** The routes that name a task by queue and ID (and can take it back). */
const queued = (route: Route) => route === "local" || route === "cloud-tasks"

/** Resolves after the timers and I/O callbacks due on this turn of the event loop. */
const nextTurn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/**
 * The recording routes of `config`, and the kit's service over what they record. The
 * handlers are those the application registered, run by `runAll`.
 */
export const makeTestKit = (config: TasksConfigShape, handlers: Option.Option<TaskHandlersShape>) => {
  let entries: Array<Entry> = []
  let generated = 0
  /** While `runAll` runs: how to cancel one of its tasks, by in-process name. */
  let cancelRunning: ((name: string) => Effect.Effect<void>) | undefined
  const location = Option.match(config.location, {
    onNone: () => "projects/local/locations/local",
    onSome: ({ location, project }) => `projects/${project}/locations/${location}`
  })
  const defaultQueue = Option.match(config.queue, { onNone: () => "default", onSome: ({ queue }) => queue })

  const nameOf = (route: Route, queue: string, id: string, now: number): string => {
    switch (route) {
      case "dry-run":
        return `dry-run-${isoTimestamp(now)}`
      case "loopback":
        return `local-loopback-${isoTimestamp(now)}`
      case "worker":
        return `dev-worker-dispatch-${isoTimestamp(now)}`
      case "local":
        return `local-direct-dispatch/${queue}/${id}`
      case "cloud-tasks":
        return `${location}/queues/${queue}/tasks/${id}`
    }
  }

  const recorder = (route: Route) => (request: TaskRequest): Effect.Effect<TaskInfo, DispatchError> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const queue = Option.match(request.queue, { onNone: () => defaultQueue, onSome: ({ id }) => id })
      const taskId = Option.getOrUndefined(request.taskId)
      if (
        queued(route) && taskId !== undefined &&
        entries.some((entry) => entry.task.queue === queue && entry.task.options.taskId === taskId)
      ) {
        const message = `A task named ${taskId} already exists or ran recently`
        return Effect.fail(new DispatchError({ message, path: request.path, route, reason: "already_exists" }))
      }
      const id = Option.getOrElse(request.taskId, () => String(++generated).padStart(20, "0"))
      const info: TaskInfo = { name: nameOf(route, queue, id, now), route }
      const task: RecordedTask = {
        ...info,
        path: request.path,
        payload: Either.getOrThrow(parseTaskJson(request.body)),
        queue,
        options: {
          dispatchDeadline: Option.getOrUndefined(request.dispatchDeadline),
          scheduleTime: Option.getOrUndefined(request.scheduleTime),
          taskId,
          headers: request.headers
        },
        state: "enqueued",
        attempts: 0
      }
      // The in-process queue of runAll names the task as the local route would have.
      entries.push({ task, request: queued(route) ? { ...request, taskId: Option.some(id) } : request, running: undefined })
      return Effect.succeed(info)
    })

  const cancel = (name: string): Effect.Effect<void, CancelError> =>
    Effect.suspend(() => {
      const entry = entries.find((entry) => entry.task.name === name && queued(entry.task.route))
      const running = entry?.running
      if (entry === undefined || (entry.task.state !== "enqueued" && running === undefined)) {
        return Effect.fail(new CancelError({ message: `No recorded task ${name} is waiting to run`, name, reason: "not_found" }))
      }
      entry.task = { ...entry.task, state: "cancelled" }
      entry.running = undefined
      return running === undefined || cancelRunning === undefined ? Effect.void : cancelRunning(running)
    })

  const route = (route: Route): RouteShape => ({ dispatch: recorder(route) })
  const local: LocalRouteShape = { dispatch: recorder("local"), drain: Effect.void, cancel }
  const cloud: RouteShape = { dispatch: recorder("cloud-tasks"), cancel }

  /**
   * Runs the tasks recorded and not yet run: each through the in-process queue with its
   * queue's settings, the clock moved to each next attempt once every attempt started has
   * ended, until each task is final or its queue would keep it past Cloud Tasks' task lifetime.
   */
  const runAll = Effect.gen(function*() {
    const pending = entries.filter((entry) => entry.task.state === "enqueued")
    if (pending.length === 0) return []
    const unhandled = pending.find(({ task }) => Option.isNone(handlers) || !handlers.value.handlers.has(task.path))
    if (unhandled !== undefined) {
      const { path, route } = unhandled.task
      const message = `No task handler is registered for ${path}: provide TaskHandlers to TestTasks.layer; no task was run`
      return yield* new DispatchError({ message, path, route, reason: "no_handler" })
    }
    const start = yield* Clock.currentTimeMillis
    const clock = makeVirtualClock(start)
    /** The tasks of this run that have not ended, by in-process name. */
    const unfinished = new Map<string, Entry>()
    let started = 0
    yield* Effect.gen(function*() {
      const { makeLocalQueue } = yield* loadLocalQueue
      const queue = yield* makeLocalQueue({ gracePeriod: Duration.zero, drainPatience: Duration.zero }, {
        clock,
        onAttemptStarted: () => started++,
        onAttemptEnded: (name, attempt, next) => {
          const entry = unfinished.get(name)
          if (entry === undefined) return
          const state = next === "gone" ? "cancelled" : next === "retrying" ? entry.task.state : next
          entry.task = { ...entry.task, state, attempts: attempt }
          if (next === "retrying") return
          unfinished.delete(name)
          entry.running = undefined
        }
      }).pipe(
        Effect.provideService(TasksConfig, config),
        Option.isSome(handlers) ? Effect.provideService(TaskHandlers, handlers.value) : (effect) => effect
      )
      cancelRunning = (name) => {
        unfinished.delete(name)
        return Effect.ignore(queue.cancel(name))
      }
      for (const entry of pending) {
        const info = yield* queue.dispatch(entry.request)
        unfinished.set(info.name, entry)
        entry.running = info.name
      }
      // Quiet: no attempt running and none due now. Then the clock moves to the next one.
      const quiet = Effect.gen(function*() {
        for (let before = -1; before !== started || clock.hasDueTimers();) {
          before = started
          yield* queue.attemptsDone
          yield* nextTurn
        }
      })
      do yield* quiet; while (unfinished.size > 0 && clock.advance(start + TASK_MAX_LIFETIME_MS))
      for (const entry of unfinished.values()) {
        entry.task = { ...entry.task, state: "abandoned" }
        entry.running = undefined
      }
    }).pipe(
      Effect.ensuring(Effect.sync(() => {
        cancelRunning = undefined
        for (const entry of pending) entry.running = undefined
      })),
      Effect.scoped
    )
    return pending.map((entry) => entry.task)
  })

  const service: TestTasksShape = {
    recorded: Effect.sync(() => entries.map((entry) => entry.task)),
    runAll,
    clear: Effect.sync(() => {
      entries = []
    })
  }

  return {
    service,
    routes: { dryRun: route("dry-run"), cloud, loopback: route("loopback"), worker: route("worker"), local }
  }
}
