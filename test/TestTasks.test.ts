/**
 * The test kit: every enqueue recorded (path, payload, options, queue, the route
 * configuration chose) and nothing dispatched; the recorded tasks run through their
 * handlers with the outcomes and retries of the in-process queue, on the kit's own clock;
 * cancel and clear.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Layer, Option, Schema } from "effect"
import {
  cancelTask,
  defineQueue,
  defineTask,
  drain,
  enqueueHttpTask,
  enqueueTask,
  Events,
  handleTask,
  NonRetryableError,
  RetryAfterError,
  TaskContext,
  type TaskContextShape,
  type TaskHandlerFunction,
  TaskHandlers,
  taskHandlersLayer
} from "effect-http-tasks"
import { TestTasks } from "effect-http-tasks/testing"
import { captureLogs } from "./utils/logs.js"

/** The kit in test mode, with `handlers`. */
const kit = (handlers: Record<string, TaskHandlerFunction>) =>
  TestTasks.layerWith({ appEnv: "test" }).pipe(Layer.provide(TaskHandlers.layer(handlers)))

/** A handler that keeps what each attempt saw in TaskContext, then answers with `outcome(attempt)`. */
const seeing = (seen: Array<TaskContextShape>, outcome: (attempt: number) => Effect.Effect<unknown, unknown>) => () =>
  Effect.flatMap(TaskContext, (context) => {
    seen.push(context)
    return outcome(seen.length)
  })

const etas = (seen: ReadonlyArray<TaskContextShape>) => seen.map((context) => Option.getOrThrow(context.eta).getTime())

describe("TestTasks.layer records", () => {
  it.effect("each enqueue with its path, payload, options, queue and route; nothing runs until runAll", () => {
    const ran: Array<unknown> = []
    const Email = defineQueue("email", { maxAttempts: 3 })
    const Transcribe = defineTask("/api/tasks/transcribe", Schema.Struct({ filename: Schema.String }))
    const Welcome = defineTask("/api/tasks/welcome", Schema.Struct({ to: Schema.String, at: Schema.Date }), { queue: Email })
    return Effect.gen(function*() {
      const first = yield* enqueueHttpTask("/api/tasks/transcribe", { filename: "a.wav" }, {
        delay: "5 minutes",
        taskId: "upload-1",
        dispatchDeadline: "20 minutes",
        headers: { "X-Request-Id": "r1" }
      })
      const second = yield* enqueueTask(Welcome, { to: "ada@example.com", at: new Date(0) })
      yield* drain
      expect(ran).toEqual([])
      expect(first).toEqual({ name: "local-direct-dispatch/default/upload-1", route: "local" })
      expect(second.name).toMatch(/^local-direct-dispatch\/email\/\d{20}$/)
      expect(yield* TestTasks.recorded).toEqual([
        {
          ...first,
          path: "/api/tasks/transcribe",
          payload: { filename: "a.wav" },
          queue: "default",
          options: {
            dispatchDeadline: Duration.minutes(20),
            scheduleTime: new Date(300_000),
            taskId: "upload-1",
            headers: { "X-Request-Id": "r1" }
          },
          state: "enqueued",
          attempts: 0
        },
        {
          ...second,
          path: "/api/tasks/welcome",
          // As its handler receives it: the Schema's encoding.
          payload: { to: "ada@example.com", at: "1970-01-01T00:00:00.000Z" },
          queue: "email",
          options: { dispatchDeadline: undefined, scheduleTime: undefined, taskId: undefined, headers: {} },
          state: "enqueued",
          attempts: 0
        }
      ])
    }).pipe(Effect.provide(
      TestTasks.layerWith({ appEnv: "test" }).pipe(Layer.provide(taskHandlersLayer(
        handleTask(Transcribe, (payload) => Effect.sync(() => ran.push(payload))),
        handleTask(Welcome, (payload) => Effect.sync(() => ran.push(payload)))
      )))
    ))
  })

  it.effect("the route and name configuration would give: Cloud Tasks in production, the worker for its paths", () =>
    Effect.gen(function*() {
      const production = yield* Effect.gen(function*() {
        yield* enqueueHttpTask("/api/tasks/transcribe", { n: 1 }, { taskId: "t1" })
        return yield* TestTasks.recorded
      }).pipe(
        Effect.provide(TestTasks.layer),
        Effect.withConfigProvider(ConfigProvider.fromMap(
          new Map([
            ["APP_ENV", "production"],
            ["GOOGLE_CLOUD_PROJECT", "p"],
            ["TASKS_LOCATION", "l"],
            ["TASKS_QUEUE", "q"],
            ["TASKS_URL_BASE", "https://api.example.com"],
            ["TASKS_AUTH", "test-secret"]
          ])
        ))
      )
      expect(production.map(({ name, queue, route }) => ({ name, queue, route }))).toEqual([
        { name: "projects/p/locations/l/queues/q/tasks/t1", queue: "q", route: "cloud-tasks" }
      ])

      const dev = yield* Effect.gen(function*() {
        yield* enqueueHttpTask("/api/tasks/assemble", {})
        yield* enqueueHttpTask("/api/tasks/transcribe", {})
        return yield* TestTasks.recorded
      }).pipe(Effect.provide(TestTasks.layerWith({ useWorkerInDev: true, workerUrlBase: "http://127.0.0.1:8001" })))
      expect(dev.map(({ name, route }) => [route, name.replace(/\d{20}$/, "<id>")])).toEqual([
        ["worker", "dev-worker-dispatch-1970-01-01T00:00:00.000Z"],
        ["local", "local-direct-dispatch/default/<id>"]
      ])

      const dryRun = yield* Effect.flatMap(enqueueHttpTask("/api/tasks/transcribe", {}), () => TestTasks.recorded).pipe(
        Effect.provide(TestTasks.layerWith({ dryRun: true }))
      )
      expect(dryRun.map(({ route }) => route)).toEqual(["dry-run"])
    }))

  it.effect("refuses what the real client refuses, and records nothing of it", () =>
    Effect.gen(function*() {
      const badPath = yield* Effect.flip(enqueueHttpTask("../etc/passwd", {}))
      expect(badPath).toMatchObject({ _tag: "DispatchError", reason: "invalid_path" })
      const noHandler = yield* Effect.flip(enqueueHttpTask("/api/tasks/unknown", {}))
      expect(noHandler).toMatchObject({ _tag: "DispatchError", reason: "no_handler" })
      yield* enqueueHttpTask("/api/tasks/a", {}, { taskId: "once" })
      const again = yield* Effect.flip(enqueueHttpTask("/api/tasks/a", {}, { taskId: "once" }))
      expect(again).toMatchObject({ _tag: "DispatchError", reason: "already_exists" })
      expect((yield* TestTasks.recorded).map(({ name }) => name)).toEqual(["local-direct-dispatch/default/once"])
    }).pipe(Effect.provide(kit({ "/api/tasks/a": () => Effect.void }))))

  it.effect("cancelTask takes a recorded task back, which then does not run; clear forgets them all", () => {
    const ran: Array<unknown> = []
    return Effect.gen(function*() {
      const reminder = yield* enqueueHttpTask("/api/tasks/remind", { n: 1 }, { delay: "1 day" })
      yield* enqueueHttpTask("/api/tasks/remind", { n: 2 })
      yield* cancelTask(reminder.name)
      const missing = yield* Effect.flip(cancelTask(reminder.name))
      expect(missing).toMatchObject({ _tag: "CancelError", reason: "not_found" })
      expect((yield* TestTasks.runAll).map(({ payload, state }) => [payload, state])).toEqual([[{ n: 2 }, "succeeded"]])
      expect(ran).toEqual([{ n: 2 }])
      expect((yield* TestTasks.recorded).map(({ state }) => state)).toEqual(["cancelled", "succeeded"])
      yield* TestTasks.clear
      expect(yield* TestTasks.recorded).toEqual([])
      expect(yield* TestTasks.runAll).toEqual([])
    }).pipe(Effect.provide(kit({ "/api/tasks/remind": (payload) => Effect.sync(() => ran.push(payload)) })))
  })

  it.effect("a worker task cannot be cancelled, as with the real worker route", () =>
    Effect.gen(function*() {
      const task = yield* enqueueHttpTask("/api/tasks/assemble", {})
      const error = yield* Effect.flip(cancelTask(task.name))
      expect(error).toMatchObject({ _tag: "CancelError", reason: "not_cancellable" })
    }).pipe(Effect.provide(TestTasks.layerWith({ useWorkerInDev: true, workerUrlBase: "http://127.0.0.1:8001" }))))
})

describe("TestTasks.runAll", () => {
  it.effect("runs each handler with its outcome: success, NonRetryableError dropped, RetryAfterError retried as late as asked", () => {
    const { layer, logs } = captureLogs()
    const later: Array<TaskContextShape> = []
    return Effect.gen(function*() {
      yield* enqueueHttpTask("/ok", {})
      yield* enqueueHttpTask("/drop", {})
      yield* enqueueHttpTask("/later", {})
      const ran = yield* TestTasks.runAll
      expect(ran.map(({ attempts, path, state }) => [path, state, attempts])).toEqual([
        ["/ok", "succeeded", 1],
        ["/drop", "dropped", 1],
        ["/later", "succeeded", 2]
      ])
      // Not the queue's 0.1 s backoff: the five minutes asked for, with what Cloud Tasks would send.
      expect(etas(later)).toEqual([0, 300_000])
      expect(later.map((context) => context.previousResponse)).toEqual([Option.none(), Option.some(503)])
      expect(logs.of(Events.taskDropped).map((entry) => entry.annotations.path)).toEqual(["/drop"])
      expect((yield* TestTasks.recorded).map(({ state }) => state)).toEqual(["succeeded", "dropped", "succeeded"])
    }).pipe(
      Effect.provide(kit({
        "/ok": () => Effect.void,
        "/drop": () => new NonRetryableError({ message: "the upload is gone" }),
        "/later": seeing(later, (attempt) => attempt === 1 ? new RetryAfterError({ after: "5 minutes" }) : Effect.void)
      })),
      Effect.provide(layer)
    )
  })

  it.effect("a failing task is retried by its queue's backoff until exhausted; the last attempt knows it is the last", () => {
    const seen: Array<TaskContextShape> = []
    const Fast = defineQueue("fast", { maxAttempts: 3, minBackoff: "1 minute", maxBackoff: "10 minutes" })
    return Effect.gen(function*() {
      yield* enqueueHttpTask("/boom", {}, { queue: Fast })
      const [task] = yield* TestTasks.runAll
      expect(task).toMatchObject({ queue: "fast", state: "exhausted", attempts: 3 })
      expect(etas(seen)).toEqual([0, 60_000, 180_000])
      expect(seen.map((context) => context.retryCount)).toEqual([0, 1, 2].map(Option.some))
      expect(seen.map((context) => context.lastAttempt)).toEqual([false, false, true].map(Option.some))
    }).pipe(Effect.provide(kit({ "/boom": seeing(seen, () => Effect.fail("kaput")) })))
  })

  it.effect("under the default queue a task that always fails ends exhausted after Cloud Tasks' 100 attempts", () => {
    const seen: Array<TaskContextShape> = []
    return Effect.gen(function*() {
      yield* enqueueHttpTask("/always", {})
      const [task] = yield* TestTasks.runAll
      expect(task).toMatchObject({ state: "exhausted", attempts: 100 })
      // 0.1 s doubling to the one-hour maximum: the 100th attempt is days later, on the kit's clock.
      expect(etas(seen).slice(0, 4)).toEqual([0, 100, 300, 700])
      expect(etas(seen)[99]).toBeGreaterThan(3 * 24 * 3_600_000)
    }).pipe(Effect.provide(kit({ "/always": seeing(seen, () => Effect.die("no")) })))
  })

  it.effect("a queue that retries without end leaves the task abandoned past Cloud Tasks' 31-day task lifetime, and says so", () => {
    const { layer, logs } = captureLogs()
    const Forever = defineQueue("forever", { maxAttempts: -1, minBackoff: "1 hour", maxBackoff: "1 day" })
    return Effect.gen(function*() {
      yield* enqueueHttpTask("/always", {}, { queue: Forever })
      const [task] = yield* TestTasks.runAll
      expect(task?.state).toBe("abandoned")
      expect(task?.attempts).toBeGreaterThan(30)
      expect(logs.of(Events.taskAbandoned).map((entry) => entry.annotations.attempts)).toEqual([task?.attempts])
    }).pipe(Effect.provide(kit({ "/always": () => Effect.fail("no") })), Effect.provide(layer))
  })

  it.effect("a delayed task runs at its time; a task its handler enqueues is recorded for the next runAll", () => {
    const seen: Array<TaskContextShape> = []
    return Effect.gen(function*() {
      yield* enqueueHttpTask("/first", {}, { delay: "2 hours" })
      expect((yield* TestTasks.runAll).map(({ path, state }) => [path, state])).toEqual([["/first", "succeeded"]])
      expect(etas(seen)).toEqual([7_200_000])
      expect((yield* TestTasks.recorded).map(({ path, state }) => [path, state])).toEqual([
        ["/first", "succeeded"],
        ["/second", "enqueued"]
      ])
      expect((yield* TestTasks.runAll).map(({ path, state }) => [path, state])).toEqual([["/second", "succeeded"]])
    }).pipe(Effect.provide(kit({
      // The handler runs with the services of the fiber that runs it, the kit's TasksClient among them.
      "/first": seeing(seen, () => enqueueHttpTask("/second", {}) as Effect.Effect<unknown, unknown>),
      "/second": () => Effect.void
    })))
  })

  it.live("takes no time of its own: retries an hour apart run at once without a TestClock", () => {
    const Slow = defineQueue("slow", { maxAttempts: 4, minBackoff: "1 hour" })
    let attempts = 0
    return Effect.gen(function*() {
      yield* enqueueHttpTask("/flaky", {}, { queue: Slow })
      const [task] = yield* TestTasks.runAll
      expect(task).toMatchObject({ state: "succeeded", attempts: 3 })
    }).pipe(Effect.provide(kit({ "/flaky": () => ++attempts < 3 ? Effect.fail("not yet") : Effect.void })))
  })

  it.effect("a path that has no handler to run it fails runAll with no_handler, and nothing runs", () =>
    Effect.gen(function*() {
      yield* enqueueHttpTask("/api/tasks/a", {})
      const error = yield* Effect.flip(TestTasks.runAll)
      expect(error).toMatchObject({ _tag: "DispatchError", reason: "no_handler", path: "/api/tasks/a" })
      expect((yield* TestTasks.recorded).map(({ state }) => state)).toEqual(["enqueued"])
    }).pipe(Effect.provide(TestTasks.layerWith({ appEnv: "test" }))))

  it.effect("a task cancelled while the others run is not run again", () => {
    const names: Array<string> = []
    return Effect.gen(function*() {
      names.push((yield* enqueueHttpTask("/remind", {}, { delay: "1 hour" })).name)
      yield* enqueueHttpTask("/unsubscribe", {})
      const ran = yield* TestTasks.runAll
      expect(ran.map(({ attempts, path, state }) => [path, state, attempts])).toEqual([
        ["/remind", "cancelled", 0],
        ["/unsubscribe", "succeeded", 1]
      ])
    }).pipe(Effect.provide(kit({
      "/remind": () => Effect.void,
      // As with the enqueue above: the kit's TasksClient is among the services of the fiber that runs it.
      "/unsubscribe": () => cancelTask(names[0]!) as Effect.Effect<unknown, unknown>
    })))
  })

  it.effect("a queue's concurrency limit holds, and its rate limit paces the run on the kit's clock without stalling it", () => {
    const Paced = defineQueue("paced", { maxDispatchesPerSecond: 1, maxConcurrentDispatches: 1 })
    let running = 0
    let most = 0
    return Effect.gen(function*() {
      for (let n = 0; n < 5; n++) yield* enqueueHttpTask("/one-at-a-time", { n }, { queue: Paced })
      const ran = yield* TestTasks.runAll
      expect(ran.map(({ state }) => state)).toEqual(Array(5).fill("succeeded"))
      expect(most).toBe(1)
    }).pipe(Effect.provide(kit({
      "/one-at-a-time": () =>
        Effect.acquireUseRelease(
          Effect.sync(() => (most = Math.max(most, ++running))),
          () => Effect.promise(() => new Promise((resolve) => setImmediate(resolve))),
          () => Effect.sync(() => running--)
        )
    })))
  })
})
