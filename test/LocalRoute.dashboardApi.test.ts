/**
 * The in-process queue's dashboard (`TASKS_DASHBOARD_PORT`, here `dashboardPort: 0`) over HTTP,
 * without a browser: what the page reads (`/_dashboard/state`) and what its buttons post
 * (`/_dashboard/action`) to the dashboard served on 127.0.0.1, and what each action does to the
 * in-process queue: the handlers that run or do not, the events a user reads, what `drain` waits
 * for. Time is effect's TestClock (the queue's engine runs on it); the HTTP is real.
 * `LocalRoute.dashboard.test.ts` drives the same page in a headless browser.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Exit, Fiber, Layer, Option, Scope, TestClock } from "effect"
import * as http from "node:http"
import type * as net from "node:net"
import {
  cancelTask,
  defineQueue,
  drain,
  enqueueHttpTask,
  Events,
  RetryAfterError,
  TaskContext,
  type TaskHandlerFunction,
  TaskHandlers,
  type TaskInfo,
  TasksClient
} from "../src/index.js"
import { captureLogs, type CapturedLogs } from "./utils/logs.js"
import { modulesLoadedBy } from "./utils/modules.js"

const LOCATION = "projects/local/locations/local"
const DEFAULT_QUEUE = `${LOCATION}/queues/default`

/**
 * The client of an application in dev with `handlers`, asked for a dashboard on `port` (0: a
 * free one): the in-process queue with its default grace period and drain patience (10 s).
 */
const client = (handlers: Record<string, TaskHandlerFunction>, port = 0) =>
  TasksClient.layerWith({ appEnv: "dev", dashboardPort: port }).pipe(Layer.provide(TaskHandlers.layer(handlers)))

/** The dashboard's URL, as the route logs it. */
const dashboardUrl = (logs: CapturedLogs) => String(logs.of(Events.dashboardListening)[0]?.annotations.url)

/** The engine's name of an in-process task: what the page lists and posts. */
const engineName = (info: TaskInfo) => {
  const [, queue, id] = info.name.split("/")
  return `${LOCATION}/queues/${queue}/tasks/${id}`
}

interface AttemptView {
  readonly attempt: number
  readonly status: number | null
  readonly detail: string | null
}
interface TaskView {
  readonly name: string
  readonly state: string
  readonly method: string
  readonly url: string
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body: { readonly preview: string }
  readonly scheduleTime: string
  readonly dispatchDeadlineMs: number
  readonly attempts: ReadonlyArray<AttemptView>
}
interface State {
  readonly queues: ReadonlyArray<{ readonly name: string; readonly state: string }>
  readonly tasks: ReadonlyArray<TaskView>
}

/** What the page reads: the dashboard's state. */
const state = (url: string) =>
  Effect.promise(() => fetch(`${url}_dashboard/state`).then((response) => response.json() as Promise<State>))

/** The task `name` on the page. */
const taskOf = (url: string, name: string) =>
  Effect.map(state(url), ({ tasks }) => tasks.find((task) => task.name === name))

/** What a button posts: the status and body of the answer. */
const act = (url: string, op: string, name: string) =>
  Effect.promise(() =>
    fetch(`${url}_dashboard/action?op=${op}&name=${encodeURIComponent(name)}`, { method: "POST" })
      .then(async (response) => ({ status: response.status, body: (await response.json()) as any }))
  )

/** A handler that records each run's payload and the time it ran at. */
const recordRun = (ran: Array<[payload: unknown, at: number]>): TaskHandlerFunction => (payload) =>
  Effect.map(Clock.currentTimeMillis, (at) => ran.push([payload, at]))

/** A request as another client than the page may send it: its status. */
const send = (url: string, method: string, path: string, headers: Record<string, string>) =>
  Effect.async<number>((resume) => {
    http.request(new URL(path, url), { method, headers }, (response) => {
      response.resume()
      resume(Effect.succeed(response.statusCode!))
    }).on("error", (error) => resume(Effect.die(error))).end()
  })

/** Runs the fibers that are ready, at most `turns` times, until `fiber` is done; its exit, if it is. */
const settled = <A, E>(fiber: Fiber.RuntimeFiber<A, E>, turns = 100) =>
  Effect.gen(function*() {
    for (let i = 0; i < turns && fiber.unsafePoll() === null; i++) yield* Effect.yieldNow()
    return fiber.unsafePoll()
  })

describe("the in-process queue's dashboard over HTTP", () => {
  it.effect("is served on 127.0.0.1 from the start, with the default queue, under its title, only to loopback names; closed with the layer", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(client({}), scope)
      const url = dashboardUrl(logs)
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
      expect(logs.of(Events.dashboardListening).map((entry) => [entry.level, entry.message, entry.annotations])).toEqual([
        ["INFO", `Dashboard of the in-process queue: ${url}`, expect.objectContaining({ route: "local", url })]
      ])
      const page = yield* Effect.promise(() => fetch(url).then((response) => response.text()))
      expect(page).toContain("<title>In-process task queue</title>")
      // The default queue is there before any task.
      expect((yield* state(url)).queues.map(({ name, state }) => [name, state])).toEqual([[DEFAULT_QUEUE, "RUNNING"]])
      // A request naming another host (DNS rebinding) is refused.
      for (const path of ["/", "/_dashboard/state"]) {
        expect(yield* send(url, "GET", path, { host: `rebound.example:${new URL(url).port}` }), path).toBe(403)
      }
      yield* Scope.close(scope, Exit.void)
      expect(yield* Effect.promise(() => fetch(`${url}_dashboard/state`).then(() => "served", () => "closed"))).toBe("closed")
    }).pipe(Effect.provide(layer))
  })

  it.effect("a port already taken is logged with why, and tasks run without the dashboard", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const taken = yield* Effect.acquireRelease(
        Effect.async<http.Server>((resume) => {
          const server = http.createServer()
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const port = (taken.address() as net.AddressInfo).port
      const ran: Array<string> = []
      yield* Effect.gen(function*() {
        yield* enqueueHttpTask("/ok", {})
        yield* drain
      }).pipe(Effect.provide(client({ "/ok": () => Effect.sync(() => ran.push("ok")) }, port)))
      expect(logs.of(Events.dashboardFailed).map((entry) => [entry.level, entry.message, entry.annotations])).toEqual([
        [
          "ERROR",
          `The in-process queue's dashboard could not listen on 127.0.0.1:${port}; tasks run without it`,
          expect.objectContaining({ route: "local", port })
        ]
      ])
      expect(logs.of(Events.dashboardFailed)[0]?.cause).toContain("EADDRINUSE")
      expect(logs.of(Events.dashboardListening)).toEqual([])
      expect(ran).toEqual(["ok"])
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.effect("each failed attempt shows why its handler failed; an attempt that succeeded shows nothing", () => {
    const Twice = defineQueue("twice", { maxAttempts: 2, minBackoff: "1 second", maxBackoff: "1 second" })
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const url = dashboardUrl(logs)
      const failing = yield* enqueueHttpTask("/fail", {}, { queue: Twice })
      const ok = yield* enqueueHttpTask("/ok", {})
      yield* TestClock.adjust("1 second")
      yield* drain
      const failed = yield* taskOf(url, engineName(failing))
      expect(failed?.state).toBe("exhausted")
      expect(failed?.attempts.map(({ attempt, status }) => [attempt, status])).toEqual([[1, 500], [2, 500]])
      expect(failed?.attempts[0]?.detail).toContain("Error: attempt 1 failed")
      expect(failed?.attempts[1]?.detail).toContain("Error: attempt 2 failed")
      expect(failed?.attempts[1]?.detail).not.toContain("attempt 1")
      const succeeded = yield* taskOf(url, engineName(ok))
      expect(succeeded?.attempts.map(({ detail, status }) => [status, detail])).toEqual([[200, null]])
    }).pipe(
      Effect.provide(client({
        "/fail": () => Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.fail(new Error(`attempt ${at === 0 ? 1 : 2} failed`))),
        "/ok": () => Effect.void
      })),
      Effect.provide(layer)
    )
  })

  it.effect("'Run now' runs a scheduled task's handler at once; posted by a page of another site, it is refused", () => {
    const { layer, logs } = captureLogs()
    const ran: Array<[payload: unknown, at: number]> = []
    return Effect.gen(function*() {
      const url = dashboardUrl(logs)
      const info = yield* enqueueHttpTask("/ok", { n: 1 }, { delay: "1 hour" })
      const other = yield* enqueueHttpTask("/ok", { n: 2 }, { delay: "1 hour" })
      const run = `/_dashboard/action?op=run&name=${encodeURIComponent(engineName(info))}`
      expect(yield* send(url, "POST", run, { origin: "https://attacker.example" })).toBe(403)
      expect((yield* taskOf(url, engineName(info)))?.state).toBe("scheduled")
      // The page's own requests, and a client that sends no Origin (curl), are served.
      expect(yield* send(url, "POST", run, { origin: url.replace(/\/$/, "") })).toBe(200)
      expect(yield* act(url, "run", engineName(other))).toEqual({ status: 200, body: { name: engineName(other) } })
      yield* drain
      expect(ran).toEqual([[{ n: 1 }, 0], [{ n: 2 }, 0]])
      expect(logs.of(Events.taskSucceeded).map((entry) => entry.annotations.name)).toEqual([info.name, other.name])
      expect((yield* taskOf(url, engineName(info)))?.state).toBe("succeeded")
    }).pipe(
      Effect.provide(client({ "/ok": recordRun(ran) })),
      Effect.provide(layer)
    )
  })

  it.effect("'Delete' cancels a task before it runs: it is logged as deleted, its handler never runs, drain does not wait for it", () => {
    const { layer, logs } = captureLogs()
    const ran: Array<unknown> = []
    return Effect.gen(function*() {
      const url = dashboardUrl(logs)
      const info = yield* enqueueHttpTask("/ok", { n: 2 }, { delay: "5 seconds" })
      const drained = yield* Effect.fork(drain)
      expect(yield* settled(drained)).toBeNull()
      expect(yield* act(url, "delete", engineName(info))).toEqual({ status: 200, body: { name: engineName(info) } })
      expect(yield* settled(drained)).toEqual(Exit.void)
      expect(logs.of(Events.taskCancelled).map((entry) => [entry.level, entry.message, entry.annotations])).toEqual([
        ["INFO", `${info.name} was deleted from the dashboard`, expect.objectContaining({ name: info.name, path: "/ok", route: "local" })]
      ])
      expect(yield* Effect.flip(cancelTask(info.name))).toMatchObject({ reason: "not_found" })
      yield* TestClock.adjust("1 minute")
      yield* drain
      expect(ran).toEqual([])
      expect((yield* taskOf(url, engineName(info)))?.state).toBe("deleted")
      expect(logs.of(Events.drainGaveUp)).toEqual([])
    }).pipe(Effect.provide(client({ "/ok": (payload) => Effect.sync(() => ran.push(payload)) })), Effect.provide(layer))
  })

  it.effect("'Purge' cancels the waiting tasks of that queue only; drain then waits for the others alone", () => {
    const { layer, logs } = captureLogs()
    const Other = defineQueue("other", { maxAttempts: 1 })
    const ran: Array<[payload: unknown, at: number]> = []
    return Effect.gen(function*() {
      const url = dashboardUrl(logs)
      const a = yield* enqueueHttpTask("/ok", { n: 1 }, { delay: "5 seconds" })
      const b = yield* enqueueHttpTask("/ok", { n: 2 }, { delay: "5 seconds" })
      const other = yield* enqueueHttpTask("/ok", { n: 3 }, { delay: "5 seconds", queue: Other })
      expect(yield* act(url, "purge", DEFAULT_QUEUE)).toEqual({ status: 200, body: { name: DEFAULT_QUEUE } })
      expect(logs.of(Events.taskCancelled).map((entry) => [entry.level, entry.message, entry.annotations.name])).toEqual([
        ["INFO", `${a.name} was purged from the dashboard`, a.name],
        ["INFO", `${b.name} was purged from the dashboard`, b.name]
      ])
      const drained = yield* Effect.fork(drain)
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(drained)
      expect(ran).toEqual([[{ n: 3 }, 5000]])
      expect(logs.of(Events.taskSucceeded).map((entry) => entry.annotations.name)).toEqual([other.name])
    }).pipe(
      Effect.provide(client({ "/ok": recordRun(ran) })),
      Effect.provide(layer)
    )
  })

  it.effect("'Pause' holds a queue's tasks: a drain in progress stops waiting for them, saying why, but not for a running attempt; 'Resume' runs them", () => {
    const { layer, logs } = captureLogs()
    const ran: Array<number> = []
    return Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      yield* Effect.gen(function*() {
        const url = dashboardUrl(logs)
        yield* enqueueHttpTask("/gated", {})
        yield* Deferred.await(started)
        const due = yield* enqueueHttpTask("/ok", {}, { delay: "5 seconds" })
        const far = yield* enqueueHttpTask("/ok", {}, { delay: "1 hour" })
        const drained = yield* Effect.fork(drain)
        expect(yield* settled(drained)).toBeNull()
        expect(yield* act(url, "pause", DEFAULT_QUEUE)).toEqual({ status: 200, body: { name: DEFAULT_QUEUE } })
        // The running attempt is still waited for.
        expect(yield* settled(drained)).toBeNull()
        yield* Deferred.succeed(gate, undefined)
        expect(yield* settled(drained)).toEqual(Exit.void)
        const paused = [
          "WARN",
          `drain does not wait for ${due.name}: its queue is paused; it stays queued until the queue is resumed or the layer closes`,
          expect.objectContaining({ name: due.name, attempts: 0, reason: "queue_paused" })
        ]
        // A task due beyond the patience says so, paused or not.
        const later = [
          "WARN",
          `drain does not wait for ${far.name}: after 0 attempt(s) its next one is due at ${
            new Date(3_600_000).toISOString()
          }; it stays queued until the layer closes`,
          expect.not.objectContaining({ reason: expect.anything() })
        ]
        const gaveUp = () => logs.of(Events.drainGaveUp).map((entry) => [entry.level, entry.message, entry.annotations])
        expect(gaveUp()).toEqual([later, paused])
        // Held past its schedule; a new drain gives up on it at once too.
        yield* TestClock.adjust("1 minute")
        yield* drain
        expect(ran).toEqual([])
        expect(gaveUp()).toEqual([later, paused, paused, later])
        expect((yield* state(url)).queues.map(({ name, state }) => [name, state])).toEqual([[DEFAULT_QUEUE, "PAUSED"]])

        expect(yield* act(url, "resume", DEFAULT_QUEUE)).toEqual({ status: 200, body: { name: DEFAULT_QUEUE } })
        yield* drain
        expect(ran).toEqual([60_000])
        expect(logs.of(Events.taskSucceeded).map((entry) => entry.annotations.path)).toEqual(["/gated", "/ok"])
        expect(gaveUp()).toEqual([later, paused, paused, later, later])
      }).pipe(Effect.provide(client({
        "/gated": () => Deferred.succeed(started, undefined).pipe(Effect.zipRight(Deferred.await(gate))),
        "/ok": () => Effect.map(Clock.currentTimeMillis, (at) => ran.push(at))
      })))
    }).pipe(Effect.provide(layer))
  })

  it.effect("'Replay' runs a finished task's handler again as a new task, as the latest enqueued task ran", () => {
    const { layer, logs } = captureLogs()
    const seen: Array<[payload: unknown, taskName: Option.Option<string>]> = []
    return Effect.gen(function*() {
      const url = dashboardUrl(logs)
      const info = yield* enqueueHttpTask("/ok", { n: 3 }).pipe(Effect.annotateLogs("caller", "ada"))
      yield* drain
      const replay = yield* act(url, "replay", engineName(info))
      expect(replay.status).toBe(200)
      const replayed = String(replay.body.name)
      expect(replayed).toMatch(new RegExp(`^${DEFAULT_QUEUE}/tasks/\\d+$`))
      expect(replayed).not.toBe(engineName(info))
      const id = replayed.split("/").pop()!
      yield* drain
      expect(seen).toEqual([[{ n: 3 }, Option.some(info.name.split("/").pop())], [{ n: 3 }, Option.some(id)]])
      expect(logs.of(Events.taskSucceeded).map((entry) => entry.annotations)).toEqual([
        expect.objectContaining({ name: info.name, path: "/ok", route: "local", caller: "ada" }),
        expect.objectContaining({ name: `local-direct-dispatch/default/${id}`, path: "/ok", route: "local", caller: "ada" })
      ])
      expect((yield* taskOf(url, replayed))?.state).toBe("succeeded")
      expect(yield* act(url, "replay", `${DEFAULT_QUEUE}/tasks/unknown`)).toMatchObject({
        status: 404,
        body: { error: { status: "NOT_FOUND" } }
      })
    }).pipe(
      Effect.provide(client({
        "/ok": (payload) => Effect.map(TaskContext, (context) => seen.push([payload, context.taskName]))
      })),
      Effect.provide(layer)
    )
  })

  it("without TASKS_DASHBOARD_PORT, an in-process dispatch loads nothing of the dashboard", async () => {
    const { TASKS_DASHBOARD_PORT: _, ...inherited } = process.env
    const loaded = async (env: Record<string, string>) => {
      const { sources } = await modulesLoadedBy(
        `import { Effect, Layer } from "effect"
        import { drain, enqueueHttpTask, TaskHandlers, TasksClient } from "effect-http-tasks"
        await Effect.runPromise(enqueueHttpTask("/api/tasks/ok", {}).pipe(Effect.zipRight(drain),
          Effect.provide(TasksClient.layer.pipe(Layer.provide(TaskHandlers.layer({ "/api/tasks/ok": () => Effect.void }))))))`,
        { ...inherited, APP_ENV: "dev", ...env }
      )
      return sources.filter((file) => file.startsWith("internal/"))
    }
    const without = await loaded({})
    expect(without).toContain("internal/localQueue.ts")
    expect(without.filter((file) => file.startsWith("internal/emulator/"))).toEqual([])
    expect(await loaded({ TASKS_DASHBOARD_PORT: "0" })).toContain("internal/emulator/dashboardServer.ts")
  })

  it("is served only when asked for", async () => {
    const { layer, logs } = captureLogs()
    await Effect.runPromise(
      enqueueHttpTask("/api/tasks/ok", {}).pipe(
        Effect.zipRight(drain),
        Effect.provide(TasksClient.layerWith({ appEnv: "dev" }).pipe(Layer.provide(TaskHandlers.layer({ "/api/tasks/ok": () => Effect.void })))),
        Effect.provide(layer)
      )
    )
    expect(logs.of(Events.taskSucceeded)).toHaveLength(1)
    expect(logs.of(Events.dashboardListening)).toEqual([])
  })

  it.effect("lists each task as Cloud Tasks would hold it: a POST of its JSON payload to the URL base and path, its headers, schedule and dispatch deadline", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const url = dashboardUrl(logs)
      const plain = yield* enqueueHttpTask("/ok", { n: 1 }, { delay: "1 hour" })
      const custom = yield* enqueueHttpTask("/ok", { n: 2 }, {
        delay: "2 hours",
        headers: { "X-Request-Id": "r-1" },
        dispatchDeadline: "15 minutes"
      })
      const view = (task: TaskView | undefined) =>
        task && [task.method, task.url, task.headers, task.body.preview, task.scheduleTime, task.dispatchDeadlineMs]
      expect(view(yield* taskOf(url, engineName(plain)))).toEqual([
        "POST",
        "http://app.test/ok",
        [["Content-Type", "application/json"], ["User-Agent", "Google-Cloud-Tasks"]],
        `{"n":1}`,
        new Date(3_600_000).toISOString(),
        600_000
      ])
      expect(view(yield* taskOf(url, engineName(custom)))).toEqual([
        "POST",
        "http://app.test/ok",
        [["X-Request-Id", "r-1"], ["Content-Type", "application/json"], ["User-Agent", "Google-Cloud-Tasks"]],
        `{"n":2}`,
        new Date(7_200_000).toISOString(),
        900_000
      ])
    }).pipe(
      Effect.provide(
        TasksClient.layerWith({ appEnv: "dev", dashboardPort: 0, urlBase: "http://app.test" }).pipe(
          Layer.provide(TaskHandlers.layer({ "/ok": () => Effect.void }))
        )
      ),
      Effect.provide(layer)
    )
  })

  it.effect("keeps why the latest 1000 attempts failed: the 1001st failure forgets the oldest", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const url = dashboardUrl(logs)
      // Each task fails once and asks to be retried in an hour: it stays listed (the oldest 1000 live tasks are).
      const enqueue = (from: number, count: number) =>
        Effect.forEach(Array.from({ length: count }, (_, i) => from + i), (n) => enqueueHttpTask("/fail", { n })).pipe(
          Effect.tap(() => drain)
        )
      const detail = (info: TaskInfo) => Effect.map(taskOf(url, engineName(info)), (task) => task?.attempts[0]?.detail)
      const [first, second] = yield* enqueue(1, 1000)
      expect(yield* detail(first!)).toContain("task 1 failed")
      yield* enqueue(1001, 1)
      expect(yield* detail(first!)).toBeNull()
      expect(yield* detail(second!)).toContain("task 2 failed")
    }).pipe(
      Effect.provide(client({
        "/fail": (payload) =>
          new RetryAfterError({ after: "1 hour", message: `task ${(payload as { n: number }).n} failed` })
      })),
      Effect.provide(layer)
    )
  })
})
