/**
 * The secret sweep: TASKS_AUTH goes on the wire and nowhere else. For every way a task can
 * fail (a refused connection, a redirect, an HTTP error whose answer echoes the request's
 * headers, a timeout, a bad configuration, the cloud route's failures, the task server's
 * refusals and failures), the secret is searched for in what a user could see: each log
 * entry in every format effect ships (logfmt, JSON, structured, pretty), the error and its
 * cause rendered every usual way (String, JSON, util.inspect, Cause.pretty), and every span
 * (name, attributes, events, links, exit).
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import {
  Cause,
  ConfigProvider,
  Console,
  Context,
  DefaultServices,
  Effect,
  Exit,
  type FiberId,
  FiberRefs,
  Layer,
  Logger,
  LogLevel,
  Option,
  Schema,
  TestClock
} from "effect"
import { randomBytes } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import * as net from "node:net"
import { inspect } from "node:util"
import { CloudTasksEmulator } from "../../src/CloudTasksEmulator.js"
import {
  defineTask,
  enqueueHttpTask,
  handleTask,
  TaskHandlers,
  TasksClient,
  type TasksConfigInput,
  taskHandlersLayer
} from "../../src/index.js"
import { TaskServerConfig } from "../../src/TaskServer.js"
import { closedPortUrl } from "../utils/httpServer.js"
import { recordingTracer, startTaskServer } from "../utils/server.js"
import { report } from "./report.js"

const secret = `sweep-${randomBytes(12).toString("hex")}`
/** Runs swept (each a failure mode or a request), outputs searched, and where the secret was found. */
let runs = 0
let searched = 0
let leaked = 0

/** Everything a user could see of one run: log lines in four formats, spans, errors. */
const observer = () => {
  const seen: Array<string> = []
  const record = (value: unknown) => {
    seen.push(typeof value === "string" ? value : inspect(value, { depth: 30, showHidden: false }))
    try {
      seen.push(JSON.stringify(value) ?? "")
    } catch {
      // not every value is JSON (a cycle): util.inspect above has it
    }
  }
  // The pretty logger writes to the Console of the logging fiber: one that records.
  const printed = (...args: ReadonlyArray<unknown>) => args.forEach(record)
  const console: Console.UnsafeConsole = {
    assert: () => {},
    clear: () => {},
    count: () => {},
    countReset: () => {},
    debug: printed,
    dir: printed,
    dirxml: printed,
    error: printed,
    group: printed,
    groupCollapsed: printed,
    groupEnd: () => {},
    info: printed,
    log: printed,
    table: printed,
    time: () => {},
    timeEnd: () => {},
    timeLog: () => {},
    trace: printed,
    warn: printed
  }
  const pretty = Logger.prettyLogger({ colors: false })
  const logger = Logger.make<unknown, void>((options) => {
    record(Logger.logfmtLogger.log(options))
    record(Logger.jsonLogger.log(options))
    record(Logger.structuredLogger.log(options))
    const services = FiberRefs.getOrDefault(options.context, DefaultServices.currentServices)
    const context = FiberRefs.updateAs(options.context, {
      fiberId: options.fiberId as FiberId.Single,
      fiberRef: DefaultServices.currentServices,
      value: Context.add(services, Console.Console, { unsafe: console } as unknown as Console.Console)
    })
    pretty.log({ ...options, context })
  })
  const { spans, tracer } = recordingTracer()
  return {
    layer: Layer.mergeAll(
      Logger.replace(Logger.defaultLogger, logger),
      Logger.minimumLogLevel(LogLevel.All),
      Layer.setTracer(tracer)
    ),
    /** Records how a run ended, its error rendered every usual way. */
    exit: (exit: Exit.Exit<unknown, unknown>) => {
      record(exit)
      if (Exit.isFailure(exit)) {
        record(Cause.pretty(exit.cause, { renderErrorCause: true }))
        for (const error of [...Cause.failures(exit.cause), ...Cause.defects(exit.cause)]) {
          record(String(error))
          record(error)
          if (error instanceof Error) record(`${error.message}\n${error.stack}\n${String(error.cause)}`)
        }
      }
    },
    /** Everything seen, spans included (with how they ended). */
    text: () => {
      for (const span of spans) {
        record(span.name)
        record([...span.attributes])
        record(span.events)
        record(span.links)
        if (span.exit !== undefined) {
          record(span.exit)
          if (Exit.isFailure(span.exit)) record(Cause.pretty(span.exit.cause, { renderErrorCause: true }))
        }
      }
      return seen.join("\n")
    },
    spans
  }
}

/** Runs `effect` observed; the secret must be nowhere in what was seen. Returns its exit. */
const sweep = <A, E, R>(
  effect: (observed: Layer.Layer<never>) => Effect.Effect<A, E, R>
): Effect.Effect<Exit.Exit<A, E>, never, R> =>
  Effect.gen(function*() {
    const observed = observer()
    const exit = yield* Effect.exit(effect(observed.layer).pipe(Effect.provide(observed.layer)))
    observed.exit(exit)
    const text = observed.text()
    // The observation itself works: something was logged and traced.
    expect(text.length).toBeGreaterThan(0)
    runs++
    searched += text.length
    if (text.includes(secret)) leaked++
    expect(text).not.toContain(secret)
    return exit
  })

/** A server on 127.0.0.1 answering each request as `answer` says; it records what it got. */
const server = (answer: (request: IncomingMessage, response: ServerResponse) => void) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly hits: () => number; readonly close: () => void }>((resume) => {
      let hits = 0
      const http = createServer((request, response) => {
        hits++
        request.resume()
        request.on("end", () => answer(request, response))
      })
      http.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
          hits: () => hits,
          close: () => {
            http.closeAllConnections()
            http.close()
          }
        })))
    }),
    (running) => Effect.sync(running.close)
  )

/** Echoes the request's headers in its answer's body and headers, as a debugging endpoint might. */
const echo = (status: number, extra: Record<string, string> = {}) => (request: IncomingMessage, response: ServerResponse) =>
  response.writeHead(status, {
    "content-type": "application/json",
    "x-echo-auth": String(request.headers["x-tasks-auth"]),
    ...extra
  }).end(JSON.stringify({ error: "echo", headers: request.headers }))

const handlers = TaskHandlers.layer({ "/api/tasks/assemble": () => Effect.void })
const client = (config: TasksConfigInput) => TasksClient.layerWith({ auth: secret, ...config }).pipe(Layer.provide(handlers))
const enqueue = (config: TasksConfigInput, path = "/api/tasks/assemble") =>
  enqueueHttpTask(path, { hello: "world" }).pipe(Effect.provide(client(config)))

const failsWith = (exit: Exit.Exit<unknown, unknown>, reason: string) => {
  expect(Exit.isFailure(exit)).toBe(true)
  if (Exit.isFailure(exit)) expect(Cause.failureOption(exit.cause).pipe(Option.map((e) => (e as { reason?: unknown }).reason))).toEqual(Option.some(reason))
}

describe("reliability: the secret is on the wire and nowhere else", () => {
  afterAll(() =>
    report("secret sweep", {
      "failing runs swept": runs,
      "characters searched (MiB)": Math.round(searched / 1024 / 1024 * 10) / 10,
      "formats": "logfmt, json, structured, pretty, String, JSON, inspect, Cause.pretty, spans",
      leaked
    })
  )
  it.effect("the sweep finds the secret wherever it is: a log annotation, a pretty-printed cause, a span attribute, an event, an exit", () =>
    Effect.gen(function*() {
      const leaks: ReadonlyArray<Effect.Effect<unknown, unknown>> = [
        Effect.log("hello").pipe(Effect.annotateLogs("auth", secret)),
        Effect.logError("boom", Cause.fail(new Error(secret))),
        Effect.void.pipe(Effect.withSpan("s", { attributes: { auth: secret } })),
        Effect.currentSpan.pipe(Effect.flatMap((span) => Effect.sync(() => span.event("e", 0n, { auth: secret }))), Effect.withSpan("s")),
        Effect.fail({ headers: { "x-tasks-auth": secret } }).pipe(Effect.withSpan("s"), Effect.ignore)
      ]
      for (const leak of leaks) {
        const observed = observer()
        yield* Effect.exit(leak.pipe(Effect.provide(observed.layer)))
        expect(observed.text()).toContain(secret)
      }
    }))

  it.scopedLive("worker and loopback: refused connection, redirects to another origin, HTTP errors that echo it", () =>
    Effect.gen(function*() {
      const closed = yield* closedPortUrl
      failsWith(yield* sweep(() => enqueue({ appEnv: "test", useWorkerInDev: true, workerUrlBase: closed })), "unreachable")
      failsWith(yield* sweep(() => enqueue({ appEnv: "test", forceHttpLoopback: true, urlBase: closed })), "unreachable")

      const elsewhere = yield* server(echo(200))
      for (const status of [301, 302, 303, 307, 308]) {
        const redirecting = yield* server(echo(status, { location: `${elsewhere.url}/api/tasks/assemble?auth=${secret}` }))
        failsWith(yield* sweep(() => enqueue({ appEnv: "test", useWorkerInDev: true, workerUrlBase: redirecting.url })), "http_error")
      }
      expect(elsewhere.hits()).toBe(0)

      for (const status of [400, 401, 403, 404, 500, 502, 503]) {
        const failing = yield* server(echo(status, { "retry-after": secret }))
        failsWith(yield* sweep(() => enqueue({ appEnv: "test", forceHttpLoopback: true, urlBase: failing.url })), "http_error")
      }
      // A success that echoes it, too.
      const accepting = yield* server(echo(202))
      expect(Exit.isSuccess(yield* sweep(() => enqueue({ appEnv: "test", useWorkerInDev: true, workerUrlBase: accepting.url }))))
        .toBe(true)
    }))

  it.scoped("worker: a timeout (the endpoint never answers)", () =>
    Effect.gen(function*() {
      let arrived: () => void = () => {}
      const arrival = new Promise<void>((resolve) => (arrived = resolve))
      const hanging = yield* server(() => arrived())
      const exit = yield* sweep(() =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(
            enqueueHttpTask("/api/tasks/assemble", {}, { dispatchDeadline: "15 seconds" }).pipe(
              Effect.provide(client({ appEnv: "test", useWorkerInDev: true, workerUrlBase: hanging.url }))
            )
          )
          yield* Effect.promise(() => arrival)
          yield* TestClock.adjust("16 seconds")
          return yield* fiber
        })
      )
      failsWith(exit, "timeout")
    }))

  it.scopedLive("bad configuration, from a ConfigProvider and from explicit values", () =>
    Effect.gen(function*() {
      const fromProvider = (map: Record<string, string>) =>
        sweep(() =>
          enqueueHttpTask("/api/tasks/assemble", {}).pipe(
            Effect.provide(TasksClient.layer.pipe(Layer.provide(handlers))),
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(map))))
          )
        )
      for (
        const map of [
          { APP_ENV: "production", TASKS_AUTH: secret },
          { APP_ENV: "production", TASKS_AUTH: secret, TASKS_URL_BASE: "ftp://example.com", TASKS_DRY_RUN: "maybe" },
          { APP_ENV: "production", TASKS_AUTH: secret, CLOUD_TASKS_EMULATOR_HOST: "http://127.0.0.1:1" },
          { APP_ENV: "production", TASKS_AUTH: `  ${secret}\t`, TASKS_FORCE_HTTP_LOOPBACK: "true" },
          { APP_ENV: "test", TASKS_AUTH: secret, USE_WORKER_IN_DEV: "perhaps", TASKS_FORCE_HTTP_LOOPBACK: "sometimes" }
        ]
      ) {
        const exit = yield* fromProvider(map)
        expect(Exit.isFailure(exit)).toBe(true)
      }
      expect(Exit.isFailure(yield* sweep(() => enqueue({ appEnv: "production", urlBase: "not a url" })))).toBe(true)
      // The task server's own configuration.
      for (
        const input of [
          { appEnv: "production", auth: secret, oidcAudience: "", oidcServiceAccounts: "not-an-email", oidcJwksUrl: "http://x" },
          { appEnv: "production", auth: `${secret}\n`, oidcAudience: "https://example.com", oidcServiceAccounts: "nobody" }
        ]
      ) {
        expect(Exit.isFailure(yield* sweep(() => Layer.build(TaskServerConfig.layerWith(input)).pipe(Effect.scoped))))
          .toBe(true)
      }
    }))

  it.scopedLive("cloud route: unreachable emulator, unknown queue, a task too big with the secret, a duplicate, after close", () =>
    Effect.gen(function*() {
      const queue = "projects/demo/locations/us-central1/queues/default"
      const emulator = yield* Effect.acquireRelease(
        Effect.promise(() => CloudTasksEmulator.start({ queues: [queue] })),
        (running) => Effect.promise(() => running.stop())
      )
      const target = yield* server(echo(500))
      const production = (extra: TasksConfigInput = {}): TasksConfigInput => ({
        appEnv: "production",
        project: "demo",
        location: "us-central1",
        queue: "default",
        urlBase: target.url,
        emulatorHost: emulator.host,
        ...extra
      })
      const closed = new URL(yield* closedPortUrl).host
      failsWith(yield* sweep(() => enqueue(production({ emulatorHost: closed }))), "unreachable")
      failsWith(yield* sweep(() => enqueue(production({ queue: "missing" }))), "create_task_failed")
      failsWith(
        yield* sweep(() =>
          enqueueHttpTask("/api/tasks/assemble", { pad: "x".repeat(1_048_000 - 2 * secret.length) }).pipe(
            Effect.provide(client(production({ auth: secret.repeat(60) })))
          )
        ),
        "payload_too_large"
      )
      const duplicate = yield* sweep(() =>
        Effect.gen(function*() {
          yield* enqueueHttpTask("/api/tasks/assemble", {}, { taskId: "twice" })
          return yield* enqueueHttpTask("/api/tasks/assemble", {}, { taskId: "twice" })
        }).pipe(Effect.provide(client(production())))
      )
      failsWith(duplicate, "already_exists")
      // Delivered to a target that answers 500 with the secret echoed: the emulator records it, the client never sees it.
      const delivered = yield* sweep(() => enqueue(production()))
      expect(Exit.isSuccess(delivered)).toBe(true)
      if (Exit.isSuccess(delivered)) yield* Effect.promise(() => emulator.waitForAttempts(1, { task: delivered.value.name }))
      const afterClose = yield* sweep(() =>
        Effect.gen(function*() {
          const context = yield* Layer.build(client(production()))
          yield* enqueueHttpTask("/api/tasks/assemble", {}).pipe(Effect.provide(context))
          return context
        }).pipe(
          Effect.scoped,
          Effect.flatMap((context) => enqueueHttpTask("/api/tasks/assemble", {}).pipe(Effect.provide(context)))
        )
      )
      failsWith(afterClose, "shutting_down")
    }), { timeout: 60_000 })

  it.scopedLive("task server: refusals (401, 404, 413, 400, 422) and failing handlers (500) log and trace no secret", () =>
    Effect.gen(function*() {
      const Task = defineTask("/api/tasks/transcribe", Schema.Struct({ filename: Schema.String }))
      const observed = observer()
      const running = yield* startTaskServer(
        taskHandlersLayer(handleTask(Task, ({ filename }) => filename === "die" ? Effect.die(new Error("died")) : Effect.fail(new Error("failed")))),
        { config: { appEnv: "production", auth: secret } }
      ).pipe(Effect.provide(observed.layer))
      const near = secret.slice(0, -1) + (secret.endsWith("0") ? "1" : "0")
      const requests: Array<[path: string, body: string, headers: Record<string, string>]> = [
        [Task.path, `{"filename":"a"}`, { "x-tasks-auth": near }],
        [Task.path, `{"filename":"a"}`, {}],
        [Task.path, `{"filename":"a"}`, { authorization: `Bearer ${secret}` }],
        ["/api/tasks/unknown", "{}", { "x-tasks-auth": secret }],
        [Task.path, `{"filename":"${"x".repeat(1_100_000)}"}`, { "x-tasks-auth": secret }],
        [Task.path, "not json", { "x-tasks-auth": secret }],
        [Task.path, `{"filename":1}`, { "x-tasks-auth": secret }],
        [Task.path, `{"filename":"a"}`, { "x-tasks-auth": secret }],
        [Task.path, `{"filename":"die"}`, { "x-tasks-auth": secret }],
        [Task.path, `{"filename":"a"}`, { "x-tasks-auth": secret, prefer: "respond-async" }]
      ]
      const statuses: Array<number> = []
      for (const [path, body, headers] of requests) {
        const answer = yield* running.post(path, body, headers)
        statuses.push(answer.status)
        expect(answer.body).not.toContain(secret)
      }
      expect(statuses).toEqual([401, 401, 401, 404, 413, 400, 422, 500, 500, 202])
      // A raw request whose header block carries the secret twice and is cut off mid-body.
      yield* Effect.promise(() =>
        new Promise<void>((resolve) => {
          const { port } = new URL(running.url)
          const socket = net.connect(Number(port), "127.0.0.1", () => {
            socket.end(`POST ${Task.path} HTTP/1.1\r\nHost: x\r\nX-Tasks-Auth: ${secret}\r\nX-Tasks-Auth: ${secret}\r\nContent-Length: 100\r\n\r\n{"fil`)
          })
          socket.on("error", () => {})
          socket.on("close", () => resolve())
          socket.resume()
        })
      )
      yield* running.server.drain
      const text = observed.text()
      expect(observed.spans.length).toBeGreaterThan(0)
      runs += requests.length + 1
      searched += text.length
      if (text.includes(secret)) leaked++
      expect(text).not.toContain(secret)
    }))
})
