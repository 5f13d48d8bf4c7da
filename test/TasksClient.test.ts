import { describe, expect, it } from "@effect/vitest"
import { vi } from "vitest"
import {
  ConfigProvider,
  Context,
  Duration,
  Effect,
  Either,
  Exit,
  FastCheck as fc,
  Fiber,
  HashMap,
  Layer,
  Logger,
  LogLevel,
  Option,
  Scope,
  TestClock,
  Tracer
} from "effect"
import { inspect } from "node:util"
import { CloudTasksEmulator } from "../src/CloudTasksEmulator.js"
import {
  defineQueue,
  DispatchError,
  DryRunRoute,
  drain,
  enqueueHttpTask,
  enqueueHttpTasks,
  Events,
  TaskHandlers,
  TasksClient,
  TasksConfig,
  type TasksConfigInput
} from "../src/index.js"
import { selectableRoutes } from "../src/internal/routing.js"
import { closedPortUrl, recordingServer } from "./utils/httpServer.js"
import { captureLogs, isSubsequence } from "./utils/logs.js"
import { ancestors, recordingTracer } from "./utils/server.js"
import { type Dispatched, recordingRoutes } from "./utils/routes.js"

const noHandlers = TaskHandlers.layer({})

const clientWith = (config: TasksConfigInput, handlers = noHandlers) =>
  TasksClient.layerWith(config).pipe(Layer.provide(handlers))

describe("worker and loopback send at once", () => {
  it.scoped("a delay or schedule time is ignored there, with a warning that says so", () =>
    Effect.gen(function*() {
      const { layer, logs } = captureLogs()
      const server = yield* recordingServer(() => ({ status: 202 }))
      yield* enqueueHttpTask("/api/tasks/other", {}, { delay: "1 hour" }).pipe(
        Effect.provide(clientWith({ appEnv: "dev", forceHttpLoopback: true, urlBase: server.url })),
        Effect.provide(layer)
      )
      expect(server.requests).toHaveLength(1)
      const [ignored] = logs.of(Events.scheduleIgnored)
      expect(ignored?.level).toBe("WARN")
      expect(ignored?.message).toBe("The loopback route sends at once; scheduleTime is ignored")
    }))
})

describe("quiet by default", () => {
  it.effect("a dev dispatch prints one Info line, its outcome; the steps are Debug, with their names", () => {
    const everything = captureLogs()
    const printed: Array<string> = []
    const atDefaultLevel = Logger.replace(
      Logger.defaultLogger,
      Logger.make(({ annotations, logLevel }) => printed.push(`${logLevel.label} ${HashMap.unsafeGet(annotations, "event")}`))
    )
    const once = Effect.zipRight(enqueueHttpTask("/api/tasks/other", {}), drain).pipe(
      Effect.provide(clientWith({ appEnv: "dev" }, TaskHandlers.layer({ "/api/tasks/other": () => Effect.void })))
    )
    return Effect.gen(function*() {
      yield* Effect.provide(once, atDefaultLevel)
      expect(printed).toEqual([`INFO ${Events.taskSucceeded}`])
      yield* Effect.provide(once, everything.layer)
      expect(everything.logs.entries.map((entry) => `${entry.level} ${entry.annotations.event}`)).toEqual([
        `DEBUG ${Events.start}`,
        `DEBUG ${Events.cloudDisabled}`,
        `DEBUG ${Events.usingLocalDispatch}`,
        `DEBUG ${Events.checkingWorkerConfig}`,
        `DEBUG ${Events.workerConfigInvalid}`,
        `DEBUG ${Events.dispatch}`,
        `DEBUG ${Events.taskAttempt}`,
        `INFO ${Events.taskSucceeded}`
      ])
    })
  })
})

describe("enqueueHttpTask: one smoke test per route", () => {
  it.scoped("dry-run logs the task, runs nothing and names it dry-run-<ISO>", () => {
    const { layer, logs } = captureLogs()
    let ran = false
    return Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2026-01-02T03:04:05.678Z"))
      const info = yield* enqueueHttpTask("/api/tasks/transcribe", { filename: "a.wav" })
      yield* drain
      expect(info).toEqual({ name: "dry-run-2026-01-02T03:04:05.678Z", route: "dry-run" })
      expect(ran).toBe(false)
      expect(logs.events()).toEqual([Events.start, Events.dryRun])
      expect(logs.of(Events.dryRun)[0]?.annotations.path).toBe("/api/tasks/transcribe")
    }).pipe(
      Effect.provide(
        clientWith(
          { dryRun: "true" },
          TaskHandlers.layer({ "/api/tasks/transcribe": () => Effect.sync(() => (ran = true)) })
        )
      ),
      Effect.provide(layer)
    )
  })

  it.live("local runs the handler on its own fiber with the JSON payload; drain waits for it", () => {
    const { layer, logs } = captureLogs()
    const received: Array<unknown> = []
    return Effect.gen(function*() {
      const at = new Date("2026-05-05T00:00:00Z")
      const info = yield* enqueueHttpTask("/api/tasks/transcribe", { filename: "a.wav", at, skip: undefined })
      expect(info.route).toBe("local")
      expect(info.name).toMatch(/^local-direct-dispatch\/default\/\d{20}$/)
      yield* drain
      // The handler sees what an HTTP endpoint would: the payload after JSON.
      expect(received).toEqual([{ filename: "a.wav", at: "2026-05-05T00:00:00.000Z" }])
      expect(
        isSubsequence([
          Events.start,
          Events.cloudDisabled,
          Events.usingLocalDispatch,
          Events.checkingWorkerConfig,
          Events.workerConfigInvalid,
          Events.dispatch,
          Events.taskSucceeded
        ], logs.events())
      ).toBe(true)
      expect(logs.of(Events.cloudDisabled)[0]?.annotations.reason).toBe("test_env")
      expect(logs.of(Events.workerConfigInvalid)[0]?.annotations.reason).toBe("worker_disabled")
    }).pipe(
      Effect.provide(
        clientWith(
          { appEnv: "test" },
          TaskHandlers.layer({
            "/api/tasks/transcribe": (payload) =>
              Effect.sleep("10 millis").pipe(Effect.zipRight(Effect.sync(() => received.push(payload))))
          })
        )
      ),
      Effect.provide(layer),
      Effect.scoped
    )
  })

  it.scoped("worker POSTs worker paths to WORKER_URL_BASE and reports the 202", () =>
    Effect.gen(function*() {
      const { layer, logs } = captureLogs()
      const server = yield* recordingServer(() => ({ status: 202 }))
      const info = yield* enqueueHttpTask("/api/tasks/assemble", { episode_id: "1" }).pipe(
        Effect.provide(clientWith({ appEnv: "dev", useWorkerInDev: "yes", workerUrlBase: server.url + "/" })),
        Effect.provide(layer)
      )
      expect(info.route).toBe("worker")
      expect(info.name).toMatch(/^dev-worker-dispatch-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      expect(server.requests).toHaveLength(1)
      const [request] = server.requests
      expect(request?.method).toBe("POST")
      expect(request?.path).toBe("/api/tasks/assemble")
      expect(JSON.parse(request!.body)).toEqual({ episode_id: "1" })
      expect(request?.headers["content-type"]).toBe("application/json")
      expect(request?.headers["x-tasks-auth"]).toBe("a-secure-local-secret")
      expect(request?.headers["prefer"]).toBe("respond-async")
      expect(request?.headers["traceparent"]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
      expect(
        isSubsequence([
          Events.start,
          Events.cloudDisabled,
          Events.usingLocalDispatch,
          Events.checkingWorkerConfig,
          Events.workerConfigValid,
          Events.usingWorkerServer,
          Events.workerSuccess
        ], logs.events())
      ).toBe(true)
      expect(logs.of(Events.tasksAuthMissing)).toHaveLength(1)
    }))

  it.scoped("loopback POSTs every path to TASKS_URL_BASE", () =>
    Effect.gen(function*() {
      const { layer, logs } = captureLogs()
      const server = yield* recordingServer()
      const info = yield* enqueueHttpTask("/api/tasks/transcribe", [1, "two"], { headers: { "X-Trace-Me": "yes" } }).pipe(
        Effect.provide(
          clientWith({ appEnv: "test", forceHttpLoopback: "on", urlBase: server.url, auth: "loop-secret" })
        ),
        Effect.provide(layer)
      )
      expect(info.route).toBe("loopback")
      expect(info.name).toMatch(/^local-loopback-\d{4}-\d\d-\d\dT[\d:.]+Z$/)
      expect(server.requests.map((r) => [r.path, r.body, r.headers["x-tasks-auth"], r.headers["x-trace-me"]])).toEqual([
        ["/api/tasks/transcribe", "[1,\"two\"]", "loop-secret", "yes"]
      ])
      expect(
        isSubsequence([
          Events.start,
          Events.cloudDisabled,
          Events.usingLocalDispatch,
          Events.usingLoopback,
          Events.loopbackSuccess
        ], logs.events())
      ).toBe(true)
      expect(logs.of(Events.tasksAuthMissing)).toHaveLength(0)
    }))
})

describe("worker and loopback never follow a redirect, and never read an endless answer", () => {
  for (const status of [301, 302, 303, 307, 308]) {
    it.scoped(`HTTP ${status} to another origin is http_error ${status}; the other origin receives nothing`, () =>
      Effect.gen(function*() {
        const elsewhere = yield* recordingServer()
        const server = yield* recordingServer(() => ({ status, headers: { location: `${elsewhere.url}/steal` } }))
        const error = yield* enqueueHttpTask("/api/tasks/assemble", { a: 1 }).pipe(
          Effect.flip,
          Effect.provide(clientWith({ useWorkerInDev: true, workerUrlBase: server.url, auth: "s3cret" }))
        )
        expect(error).toMatchObject({ _tag: "DispatchError", reason: "http_error", status, route: "worker" })
        expect(error.message).toContain("redirect")
        expect(server.requests).toHaveLength(1)
        expect(elsewhere.requests).toHaveLength(0)
      }))
  }

  it.scoped("a 2xx with an endless body resolves on the status and drops the connection", () =>
    Effect.gen(function*() {
      const server = yield* recordingServer(() => ({ status: 202, endless: true }))
      const info = yield* enqueueHttpTask("/api/tasks/transcribe", {}).pipe(
        Effect.provide(clientWith({ forceHttpLoopback: true, urlBase: server.url }))
      )
      expect(info.route).toBe("loopback")
      yield* Effect.promise(() => vi.waitFor(() => expect(server.endless[0]?.closed).toBe(true)))
      // At most the bounded prefix and what the sockets buffer in between was written.
      expect(server.endless[0]!.written).toBeLessThan(8 * 1024 * 1024)
    }))
})

describe("worker and loopback failures reach the caller", () => {
  const failing = (status: number) =>
    it.scoped(`HTTP ${status} is a DispatchError with the status and a worker_error event`, () =>
      Effect.gen(function*() {
        const { layer, logs } = captureLogs()
        const server = yield* recordingServer(() => ({ status }))
        const error = yield* enqueueHttpTask("/api/tasks/process-chunk", { chunk_id: "c" }).pipe(
          Effect.provide(clientWith({ useWorkerInDev: true, workerUrlBase: server.url })),
          Effect.provide(layer),
          Effect.flip
        )
        expect(error).toBeInstanceOf(DispatchError)
        expect(error).toMatchObject({ reason: "http_error", status, route: "worker", path: "/api/tasks/process-chunk" })
        expect(logs.of(Events.workerError)[0]?.annotations.status).toBe(status)
        expect(server.requests).toHaveLength(1)
      }))
  failing(404)
  failing(500)

  it.scoped("a refused connection is reason unreachable with worker_exception", () =>
    Effect.gen(function*() {
      const { layer, logs } = captureLogs()
      const url = yield* closedPortUrl
      const error = yield* enqueueHttpTask("/api/tasks/assemble", {}).pipe(
        Effect.provide(clientWith({ useWorkerInDev: true, workerUrlBase: url })),
        Effect.provide(layer),
        Effect.flip
      )
      expect(error).toMatchObject({ _tag: "DispatchError", reason: "unreachable", route: "worker" })
      expect(logs.events()).toContain(Events.workerException)
      expect(logs.events()).not.toContain(Events.dispatch) // no fallback to local
    }))

  it.scoped("a server slower than dispatchDeadline is reason timeout with worker_timeout", () =>
    Effect.gen(function*() {
      const { layer, logs } = captureLogs()
      const server = yield* recordingServer(() => ({ hang: true }))
      const fiber = yield* enqueueHttpTask("/api/tasks/assemble", {}, { dispatchDeadline: "15 seconds" }).pipe(
        Effect.provide(clientWith({ useWorkerInDev: true, workerUrlBase: server.url })),
        Effect.provide(layer),
        Effect.fork
      )
      yield* server.received(1)
      yield* TestClock.adjust("14 seconds")
      expect(Option.isNone(yield* fiber.poll)).toBe(true)
      yield* TestClock.adjust("2 seconds")
      const error = yield* Effect.flip(fiber)
      expect(error).toMatchObject({ reason: "timeout", route: "worker" })
      expect(logs.events()).toContain(Events.workerTimeout)
    }))

  it.scoped("loopback failures log loopback_error", () =>
    Effect.gen(function*() {
      const { layer, logs } = captureLogs()
      const server = yield* recordingServer(() => ({ status: 503 }))
      const error = yield* enqueueHttpTask("/x", {}).pipe(
        Effect.provide(clientWith({ forceHttpLoopback: true, urlBase: server.url })),
        Effect.provide(layer),
        Effect.flip
      )
      expect(error).toMatchObject({ reason: "http_error", status: 503, route: "loopback" })
      expect(logs.of(Events.loopbackError)[0]?.annotations.status).toBe(503)
    }))
})

// ---------------------------------------------------------------------------
// The routing decision, against a reference model over arbitrary environments.

const workerPaths = ["/api/tasks/assemble", "/api/tasks/process-chunk"]
const somePaths = [...workerPaths, "/api/tasks/transcribe", "/api/tasks/assemble-preview", "/x/api/tasks/assemble"]

const casing = (word: string) =>
  fc.tuple(fc.array(fc.boolean(), { minLength: word.length, maxLength: word.length }), fc.constantFrom("", " ", "\t"))
    .map(([upper, pad]) => pad + [...word].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join("") + pad)
const appEnvText = fc.oneof(
  fc.constantFrom("dev", "development", "local", "test", "testing", "production", "staging", "prod").chain(casing),
  fc.constant(undefined)
)

interface Env {
  readonly appEnv: string | undefined
  readonly dryRun: boolean
  readonly forceLoopback: boolean
  readonly useWorker: boolean
  readonly workerUrl: "valid" | "invalid" | "absent"
  readonly path: string
}

/** The routing table of the README (Routes), written independently of the implementation. */
const referenceRoute = (env: Env) => {
  const kind = (env.appEnv ?? "").trim().toLowerCase()
  const dev = ["", "dev", "development", "local", "test", "testing"].includes(kind)
  if (env.dryRun) return "dry-run"
  if (!dev) return "cloud-tasks"
  if (env.forceLoopback) return "loopback"
  if (env.useWorker && env.workerUrl === "valid" && workerPaths.includes(env.path)) return "worker"
  return "local"
}

const envArbitrary = fc.record({
  appEnv: appEnvText,
  dryRun: fc.boolean(),
  forceLoopback: fc.boolean(),
  useWorker: fc.boolean(),
  workerUrl: fc.constantFrom<Env["workerUrl"]>("valid", "invalid", "absent"),
  path: fc.constantFrom(...somePaths)
})

describe("routing", () => {
  it.effect.prop("every environment and path takes the route of the reference model", { env: envArbitrary }, ({ env }) =>
    Effect.gen(function*() {
      const production = referenceRoute({ ...env, dryRun: false }) === "cloud-tasks"
      const map = new Map<string, string>([
        ["TASKS_DRY_RUN", env.dryRun ? "true" : "false"],
        ["TASKS_FORCE_HTTP_LOOPBACK", env.forceLoopback && !production ? "1" : "0"],
        ["USE_WORKER_IN_DEV", env.useWorker ? "yes" : "no"],
        ["TASKS_URL_BASE", "https://api.example.com/"],
        ["GOOGLE_CLOUD_PROJECT", "p"],
        ["TASKS_LOCATION", "l"],
        ["TASKS_QUEUE", "q"],
        ["TASKS_AUTH", "prod-secret"]
      ])
      if (env.appEnv !== undefined) map.set("APP_ENV", env.appEnv)
      // An invalid WORKER_URL_BASE is a ConfigError in production, a local fallback in dev/test.
      if (env.workerUrl === "valid" || (env.workerUrl === "invalid" && production)) {
        map.set("WORKER_URL_BASE", "http://127.0.0.1:8001")
      } else if (env.workerUrl === "invalid") {
        map.set("WORKER_URL_BASE", "127.0.0.1:8001")
      }
      const dispatched: Array<Dispatched> = []
      const [info, config] = yield* Effect.zip(enqueueHttpTask(env.path, { n: 1 }), TasksConfig).pipe(
        Effect.provide(
          TasksClient.layerWithoutRoutes.pipe(
            Layer.provide(recordingRoutes(dispatched)),
            Layer.provideMerge(TasksConfig.layer),
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(map)))
          )
        )
      )
      const expected = referenceRoute({ ...env, forceLoopback: env.forceLoopback && !production })
      expect(info.route).toBe(expected)
      expect(dispatched.map((d) => d.route)).toEqual([expected])
      // TasksClient.layer builds only the selectable routes: the chosen one must be among them.
      expect(selectableRoutes(config).has(expected as never)).toBe(true)
    }))

  const everyRoute: ReadonlyArray<[string, TasksConfigInput]> = [
    ["dry-run", { dryRun: true }],
    ["cloud-tasks", { appEnv: "production", project: "p", location: "l", queue: "q", urlBase: "https://a.example", auth: "s" }],
    ["loopback", { appEnv: "test", forceHttpLoopback: true, urlBase: "http://127.0.0.1:1" }],
    ["worker", { appEnv: "test", useWorkerInDev: true, workerUrlBase: "http://127.0.0.1:1" }],
    ["local", { appEnv: "test" }]
  ]
  for (const [route, config] of everyRoute) {
    it.effect(`${route}: with handlers registered, a path without one is refused as it would be in dev`, () => {
      const { layer: logLayer, logs } = captureLogs()
      return Effect.gen(function*() {
        const dispatched: Array<Dispatched> = []
        const layer = (handlers: Layer.Layer<TaskHandlers>) =>
          TasksClient.layerWithoutRoutes.pipe(
            Layer.provide(recordingRoutes(dispatched)),
            Layer.provide(TasksConfig.layerWith({ ...config, workerPaths: ["/api/tasks/unknwn", "/api/tasks/assemble"] })),
            Layer.provide(handlers)
          )
        const registered = TaskHandlers.layer({ "/api/tasks/assemble": () => Effect.void, "/api/tasks/transcribe": () => Effect.void })
        const error = yield* enqueueHttpTask("/api/tasks/unknwn", {}).pipe(Effect.flip, Effect.provide(layer(registered)))
        expect(error).toMatchObject({ _tag: "DispatchError", reason: "no_handler", route })
        expect(error.message).toContain("No task handler is registered for /api/tasks/unknwn")
        expect(error.message).toContain("Registered: /api/tasks/assemble, /api/tasks/transcribe")
        expect(error.message).toContain(`TaskHandlers.layer({ "/api/tasks/unknwn": handler })`)
        expect(logs.of(Events.handlerMissing)).toHaveLength(1)
        expect(dispatched).toEqual([])
        // A registered path goes through; an application that registers none (it only enqueues) sends any path.
        expect((yield* enqueueHttpTask("/api/tasks/assemble", {}).pipe(Effect.provide(layer(registered)))).route)
          .toBe(route)
        const enqueueOnly = TaskHandlers.layer({})
        expect((yield* enqueueHttpTask("/api/tasks/unknwn", {}).pipe(Effect.provide(layer(enqueueOnly)))).route)
          .toBe(route)
      }).pipe(Effect.provide(logLayer))
    })
  }

  it.effect("replacing one route leaves the others in place", () =>
    Effect.gen(function*() {
      const dispatched: Array<Dispatched> = []
      const fakes = recordingRoutes(dispatched)
      const layer = TasksClient.layerWithoutRoutes.pipe(
        Layer.provide(Layer.succeed(DryRunRoute, {
          dispatch: (request) => Effect.succeed({ name: `mine-${request.path}`, route: "dry-run" as const })
        })),
        Layer.provide(fakes),
        Layer.provide(TasksConfig.layerWith({ dryRun: true }))
      )
      const info = yield* enqueueHttpTask("/a", 1).pipe(Effect.provide(layer))
      expect(info.name).toBe("mine-/a")
      expect(dispatched).toEqual([])
    }))
})

describe("dry-run names", () => {
  it.effect.prop(
    "are dry-run-<ISO-8601 UTC> of the clock at the call",
    { millis: fc.integer({ min: 0, max: Date.parse("2999-12-31T23:59:59.999Z") }) },
    ({ millis }) =>
      Effect.gen(function*() {
        yield* TestClock.setTime(millis)
        const { name } = yield* enqueueHttpTask("/t", null).pipe(Effect.provide(clientWith({ dryRun: "1" })))
        const stamp = name.replace(/^dry-run-/, "")
        expect(stamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
        expect(Date.parse(stamp)).toBe(millis)
      })
  )
})

// ---------------------------------------------------------------------------
// The secret never leaves but on the wire.

/** Runs `effect` with a tracer that keeps every span, and returns their attributes. */
const withSpanAttributes = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.tracer, (base) => {
    const spans: Array<Tracer.Span> = []
    const tracer = Tracer.make({
      span: (...args) => {
        const span = base.span(...args)
        spans.push(span)
        return span
      },
      context: base.context
    })
    return Effect.withTracer(effect, tracer).pipe(
      Effect.map((result) => ({
        result,
        attributes: spans.flatMap((span) => [span.name, ...Array.from(span.attributes, ([k, v]) => `${k}=${String(v)}`)]),
        // How each span ended: an error of the HTTP request (with its headers) would end up here.
        exits: spans.map((span) => inspect(span.status, { depth: 20 }))
      }))
    )
  })

describe("TASKS_AUTH", () => {
  it.live.prop(
    "never appears in a log line, an error, a span attribute or a span's exit, and is sent on the wire",
    {
      secret: fc.string({ minLength: 12, maxLength: 40 }).filter((s) => s.trim() === s && /^[\x21-\x7e]+$/.test(s)),
      outcome: fc.constantFrom(200, 202, 302, 401, 500, "unreachable")
    },
    ({ outcome, secret }) =>
      Effect.gen(function*() {
        const { layer, logs } = captureLogs()
        const server = yield* recordingServer(() => ({ status: typeof outcome === "number" ? outcome : 200 }))
        const url = outcome === "unreachable" ? yield* closedPortUrl : server.url
        const { attributes, exits, result } = yield* enqueueHttpTask("/api/tasks/assemble", { hello: "world" }).pipe(
          Effect.provide(clientWith({ appEnv: "test", useWorkerInDev: true, workerUrlBase: url, auth: secret })),
          Effect.provide(layer),
          Effect.either,
          withSpanAttributes
        )
        if (outcome !== "unreachable") expect(server.requests[0]?.headers["x-tasks-auth"]).toBe(secret)
        const seen = [
          ...logs.entries.map((entry) => entry.line + entry.cause + JSON.stringify(entry.annotations)),
          JSON.stringify(result),
          inspect(result, { depth: 10 }),
          Either.isLeft(result) ? String(result.left) : "",
          ...attributes,
          ...exits
        ].join("\n")
        expect(seen).not.toContain(secret)
      }).pipe(Effect.scoped),
    { fastCheck: { numRuns: 25 } }
  )
})

describe("enqueueHttpTasks", () => {
  it.effect("returns one result per task in order, failures included, with bounded concurrency", () =>
    Effect.gen(function*() {
      let running = 0
      let peak = 0
      const slowRoute = Layer.succeed(DryRunRoute, {
        dispatch: (request) =>
          Effect.gen(function*() {
            running++
            peak = Math.max(peak, running)
            // Later tasks take less time: they end out of order, and come back in order.
            yield* Effect.sleep(Duration.millis(40 - 2 * Number(request.path.slice(2))))
            running--
            return { name: `ok${request.path}`, route: "dry-run" as const }
          })
      })
      const layer = TasksClient.layerWithoutRoutes.pipe(
        Layer.provide(slowRoute),
        Layer.provide(recordingRoutes([])),
        Layer.provide(TasksConfig.layerWith({ dryRun: true }))
      )
      const tasks = Array.from({ length: 20 }, (_, i) => ({ path: i === 7 ? "bad path" : `/t${i}`, payload: i }))
      const fiber = yield* enqueueHttpTasks(tasks, { concurrency: 3 }).pipe(Effect.provide(layer), Effect.fork)
      yield* TestClock.adjust("1 second")
      const results = yield* fiber
      expect(results).toHaveLength(20)
      expect(results.map((r) => Either.isRight(r) ? r.right.name : r.left._tag === "DispatchError" && r.left.reason)).toEqual(
        tasks.map((t, i) => i === 7 ? "invalid_path" : `ok${t.path}`)
      )
      expect(peak).toBe(3)
      expect(yield* enqueueHttpTasks([]).pipe(Effect.provide(layer))).toEqual([])
      for (const concurrency of [0, Number.NaN]) {
        peak = 0
        const one = yield* enqueueHttpTasks(tasks.slice(0, 4), { concurrency }).pipe(Effect.provide(layer), Effect.fork)
        yield* TestClock.adjust("1 second")
        expect((yield* one).map(Either.isRight)).toEqual([true, true, true, true])
        expect(peak).toBe(1)
      }
    }))
})

describe("a bad WORKER_URL_BASE in dev", () => {
  it.effect("sends worker paths to local dispatch with a warning naming the problem", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const info = yield* enqueueHttpTask("/api/tasks/assemble", {})
      expect(info.route).toBe("local")
      const [invalid] = logs.of(Events.workerConfigInvalid)
      expect(invalid?.level).toBe("WARN")
      expect(invalid?.annotations.reason).toBe("worker_url_invalid")
      expect(invalid?.message).toContain("WORKER_URL_BASE")
    }).pipe(
      Effect.provide(clientWith(
        { useWorkerInDev: true, workerUrlBase: "localhost:8001" },
        TaskHandlers.layer({ "/api/tasks/assemble": () => Effect.void })
      )),
      Effect.provide(layer)
    )
  })
})

describe("spans", () => {
  it.scopedLive(
    "a task that leaves the process is one TasksClient.enqueueHttpTask span under the caller's; in-process work nests under the caller's span",
    () =>
      Effect.gen(function*() {
        const { spans, tracer } = recordingTracer()
        const server = yield* recordingServer(() => ({ status: 202 }))
        yield* Effect.gen(function*() {
          yield* enqueueHttpTask("/api/tasks/assemble", { episode_id: "1" }) // worker
          yield* enqueueHttpTask("/api/tasks/other", {}) // local
          yield* drain
        }).pipe(
          Effect.withSpan("request"),
          Effect.provide(clientWith(
            { appEnv: "dev", useWorkerInDev: true, workerUrlBase: server.url },
            TaskHandlers.layer({
              "/api/tasks/assemble": () => Effect.void,
              "/api/tasks/other": () => Effect.void.pipe(Effect.withSpan("work"))
            })
          )),
          Effect.withTracer(tracer)
        )
        const enqueues = spans.filter((span) => span.name === "TasksClient.enqueueHttpTask")
        expect(enqueues).toHaveLength(1)
        expect(Object.fromEntries(enqueues[0]!.attributes)).toEqual({
          "tasks.path": "/api/tasks/assemble",
          "tasks.route": "worker"
        })
        expect(ancestors(spans, enqueues[0]!)).toEqual(["request"])
        // The worker's request continues the trace of the enqueue span.
        const [, traceId, parentId] = String(server.requests[0]?.headers["traceparent"]).split("-")
        expect(parentId).toBe(enqueues[0]!.spanId)
        expect(traceId).toBe(enqueues[0]!.traceId)
        const work = spans.find((span) => span.name === "work")!
        expect(ancestors(spans, work)).toEqual(["request"])
      })
  )

  it.scoped("the enqueue span ends with the dispatch's exit, a failed dispatch included, and carries the annotations and links in scope", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const server = yield* recordingServer((_, index) => ({ status: index % 2 === 1 ? 500 : 202 }))
      const enqueue = Effect.either(enqueueHttpTask("/api/tasks/other", {})).pipe(
        Effect.provide(clientWith({ appEnv: "dev", forceHttpLoopback: true, urlBase: server.url }))
      )
      const upstream = yield* Effect.makeSpan("upstream")
      // With annotations or links in scope, the span is effect's own (Effect.useSpan): the same span.
      const inScope = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        effect.pipe(Effect.annotateSpans("deployment", "blue"), Effect.linkSpans(upstream))
      const results = yield* Effect.all([enqueue, enqueue, inScope(enqueue), inScope(enqueue)]).pipe(Effect.withTracer(tracer))
      expect(results.map(Either.isRight)).toEqual([true, false, true, false])
      const enqueues = spans.filter((span) => span.name === "TasksClient.enqueueHttpTask")
      expect(enqueues.map((span) => span.exit?._tag)).toEqual(["Success", "Failure", "Success", "Failure"])
      for (const span of enqueues) {
        expect(span.kind).toBe("producer")
        expect([span.attributes.get("tasks.path"), span.attributes.get("tasks.route")]).toEqual(["/api/tasks/other", "loopback"])
        // No stack trace is captured per call, on either path.
        expect(span.attributes.has("code.stacktrace")).toBe(false)
      }
      expect(enqueues.map((span) => span.attributes.get("deployment"))).toEqual([undefined, undefined, "blue", "blue"])
      expect(enqueues.map((span) => span.links.length)).toEqual([0, 0, 1, 1])
      // Each task carries the trace of its own span.
      expect(server.requests.map((request) => String(request.headers["traceparent"]).split("-")[2])).toEqual(
        enqueues.map((span) => span.spanId)
      )
    }))

  it.scoped("an enqueue interrupted while it dispatches ends its span as interrupted", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const server = yield* recordingServer(() => ({ hang: true }))
      const fiber = yield* enqueueHttpTask("/api/tasks/other", {}).pipe(
        Effect.provide(clientWith({ appEnv: "dev", forceHttpLoopback: true, urlBase: server.url })),
        Effect.withTracer(tracer),
        Effect.fork
      )
      yield* server.received(1)
      expect(spans.map((span) => [span.name, span.exit])).toEqual([["TasksClient.enqueueHttpTask", undefined]])
      yield* Fiber.interrupt(fiber)
      expect(spans.map((span) => span.exit !== undefined && Exit.isInterrupted(span.exit))).toEqual([true])
    }))

  it.scoped("a span in between that stops propagation is passed over: the enqueue span is the caller's child", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const server = yield* recordingServer(() => ({ status: 202 }))
      yield* enqueueHttpTask("/api/tasks/other", {}).pipe(
        Effect.withSpan("hop", { context: Context.make(Tracer.DisablePropagation, true) }),
        Effect.withSpan("request"),
        Effect.provide(clientWith({ appEnv: "dev", forceHttpLoopback: true, urlBase: server.url })),
        Effect.withTracer(tracer)
      )
      const enqueue = spans.find((span) => span.name === "TasksClient.enqueueHttpTask")!
      const request = spans.find((span) => span.name === "request")!
      expect(ancestors(spans, enqueue)).toEqual(["request"])
      const [, traceId, parentId] = String(server.requests[0]?.headers["traceparent"]).split("-")
      expect([traceId, parentId]).toEqual([request.traceId, enqueue.spanId])
    }))

  it.scoped("with tracing turned off, the task carries no traceparent (not the no-op span's \"noop\" IDs)", () =>
    Effect.gen(function*() {
      const server = yield* recordingServer(() => ({ status: 202 }))
      yield* enqueueHttpTask("/api/tasks/other", {}).pipe(
        Effect.provide(clientWith({ appEnv: "dev", forceHttpLoopback: true, urlBase: server.url })),
        Effect.provide(Layer.setTracerEnabled(false))
      )
      expect(server.requests).toHaveLength(1)
      expect(server.requests[0]?.headers).not.toHaveProperty("traceparent")
    }))

  it.effect("dry-run adds no span either", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      yield* enqueueHttpTask("/api/tasks/transcribe", {}).pipe(
        Effect.provide(clientWith({ dryRun: true })),
        Effect.withTracer(tracer)
      )
      expect(spans.map((span) => span.name)).toEqual([])
    }))
})

describe("with Info filtered out", () => {
  it.live("a dispatch logs only its warnings and errors, and still runs", () => {
    const { layer, logs } = captureLogs()
    let ran = 0
    return Effect.gen(function*() {
      yield* enqueueHttpTask("/api/tasks/assemble", {})
      yield* enqueueHttpTask("/api/tasks/fails", {}, { queue: defineQueue("once", { maxAttempts: 1 }) })
      yield* Effect.either(enqueueHttpTask("no-slash", {}))
      yield* drain
      expect(ran).toBe(1)
      // The handler's outcome is logged on its own fiber, so in no fixed order with the rest.
      const seen = logs.entries.map((entry) => `${entry.level} ${entry.annotations.event}`)
      expect(seen.sort()).toEqual([
        `ERROR ${Events.taskExhausted}`,
        `ERROR ${Events.taskFailed}`,
        `ERROR ${Events.invalidRequest}`,
        // USE_WORKER_IN_DEV asked for the worker and WORKER_URL_BASE is unset: a warning per task
        `WARN ${Events.workerConfigInvalid}`,
        `WARN ${Events.workerConfigInvalid}`
      ])
    }).pipe(
      Effect.provide(clientWith(
        { useWorkerInDev: true },
        TaskHandlers.layer({
          "/api/tasks/assemble": () => Effect.sync(() => ran++),
          "/api/tasks/fails": () => Effect.fail("boom")
        })
      )),
      Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)),
      Effect.provide(layer)
    )
  })
})

describe("off the happy path", () => {
  const deep = (levels: number) => {
    let payload: unknown = { leaf: true }
    for (let i = 0; i < levels; i++) payload = { next: payload }
    return payload
  }

  it.effect("a payload nested 20,000 levels is a DispatchError, not a defect; a batch still returns one result per task", () =>
    Effect.gen(function*() {
      const dispatched: Array<Dispatched> = []
      const layer = TasksClient.layerWithoutRoutes.pipe(
        Layer.provide(recordingRoutes(dispatched)),
        Layer.provide(TasksConfig.layerWith({ appEnv: "test" }))
      )
      const error = yield* enqueueHttpTask("/api/tasks/a", deep(20_000)).pipe(Effect.flip, Effect.provide(layer))
      expect(error).toMatchObject({ _tag: "DispatchError", reason: "invalid_payload" })
      expect(error.message).toContain("nested too deeply")
      const results = yield* enqueueHttpTasks([
        { path: "/api/tasks/a", payload: 1 },
        { path: "/api/tasks/a", payload: deep(20_000) },
        { path: "/api/tasks/a", payload: 3 }
      ]).pipe(Effect.provide(layer))
      expect(results.map(Either.isRight)).toEqual([true, false, true])
      expect(dispatched.map(({ request }) => request.body)).toEqual(["1", "3"])
    }))

  it.live("drain waits for the tasks started before it, not for those started after, under steady load", () =>
    Effect.gen(function*() {
      const finished = new Set<number>()
      const layer = clientWith({ appEnv: "test" }, TaskHandlers.layer({
        "/api/tasks/work": (payload) =>
          Effect.sleep("30 millis").pipe(Effect.zipRight(Effect.sync(() => finished.add((payload as { n: number }).n))))
      }))
      yield* Effect.gen(function*() {
        for (let n = 0; n < 5; n++) yield* enqueueHttpTask("/api/tasks/work", { n })
        // Steady load: a new task every few milliseconds, for as long as this test runs.
        let next = 5
        yield* Effect.forkScoped(Effect.forever(
          Effect.zipRight(enqueueHttpTask("/api/tasks/work", { n: next++ }), Effect.sleep("5 millis"))
        ))
        yield* Effect.sleep("10 millis")
        yield* drain
        expect([0, 1, 2, 3, 4].every((n) => finished.has(n))).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(layer))
    }))

  it.scopedLive("after the cloud route's layer has closed, an enqueue is refused as shutting_down", () =>
    Effect.gen(function*() {
      const emulator = yield* Effect.acquireRelease(
        Effect.promise(() => CloudTasksEmulator.start({ queues: ["projects/p/locations/l/queues/q"] })),
        (running) => Effect.promise(() => running.stop())
      )
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        clientWith({
          appEnv: "production",
          project: "p",
          location: "l",
          queue: "q",
          urlBase: "http://127.0.0.1:9",
          auth: "s3cret",
          emulatorHost: emulator.host
        }),
        scope
      )
      const client = Context.get(context, TasksClient)
      expect((yield* client.enqueueHttpTask("/api/tasks/a", {})).route).toBe("cloud-tasks")
      yield* Scope.close(scope, Exit.void)
      const error = yield* Effect.flip(client.enqueueHttpTask("/api/tasks/a", {}))
      expect(error).toMatchObject({ _tag: "DispatchError", reason: "shutting_down", route: "cloud-tasks" })
    }))
})
