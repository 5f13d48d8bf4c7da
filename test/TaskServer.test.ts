/**
 * The task server: its answers, events and spans, as Cloud Tasks and an operator see them.
 *
 * Equivalent mutants of src/internal/server/router.ts, one a line; all but the first and the last
 * are disabled there with `// Stryker disable next-line` and the same reason:
 * - `captureStackTrace` of both spans (Stryker 9.6 no longer makes these).
 * - The body's "Text" tag (only the other two tags are tested).
 * - Our limit applied to a declared-length body where the platform's is no smaller or absent (the length is within it).
 * - A declared-length read that fails (Node frames the body by its Content-Length and a web request's is
 *   read without a limit: it fails only when the client has gone, and the platform has then interrupted
 *   the request, as the test of a client gone mid-body shows: nothing is refused or logged).
 * - A declared-length body read as a stream (only slower).
 * - Keeping chunks past the limit (that body is refused anyway).
 * - A chunked read that fails midway (the client has gone), and the missing body's "" as other text or
 *   without its tag (not JSON either way).
 * - `running = true` as the span ends (the answer follows the handler's exit with no async step of ours;
 *   only a scheduler yield in between could tell, which no test can arrange).
 * - `passes` always true (each event still checks its own level), and `!== ""` for "Succeeded" likewise.
 * - Not disabled, as its line holds killed mutants of the same kind: the outcome's log pre-check as
 *   `true` (the general path, the same result).
 *
 * Equivalent mutants of src/internal/span.ts (the spans of this server and of `TasksClient`), which
 * send every span through effect's own, the same span only slower: startSpan's body emptied (disabled
 * there), and its fallback condition as `true` (not disabled: its line holds killed mutants).
 */
import { FileSystem, HttpIncomingMessage as IncomingMessage, HttpMiddleware } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { vi } from "vitest"
import { Context, Deferred, Effect, Either, Exit, Fiber, Layer, Logger, LogLevel, Option, Queue, Schema, Scope, Tracer } from "effect"
import { timingSafeEqual } from "node:crypto"
import { CloudTasksEmulator } from "../src/CloudTasksEmulator.js"
import {
  defineQueue,
  defineTask,
  DispatchError,
  enqueueHttpTask,
  enqueueTask,
  Events,
  handleTask,
  NonRetryableError,
  RetryAfterError,
  TaskHandlers,
  TaskPayloadError,
  TasksClient,
  type TasksConfigInput,
  taskHandlersLayer
} from "../src/index.js"
import { MAX_TASK_BYTES } from "../src/internal/limits.js"
import { TaskContext, type TaskContextShape, TaskServer, toWebHandler } from "../src/TaskServer.js"
import { captureLogs } from "./utils/logs.js"
import { cutOffUpload, endlessUpload, rawRequest } from "./utils/rawHttp.js"
import { ancestors, recordingTracer, secret, startTaskServer } from "./utils/server.js"

// Spy on the comparison without changing it, to see that the server uses it.
vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>()
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) }
})

const Transcribe = defineTask(
  "/api/tasks/transcribe",
  Schema.Struct({ filename: Schema.String, user_id: Schema.String })
)
const Assemble = defineTask(
  "/api/tasks/assemble",
  Schema.Struct(
    { episode_id: Schema.String, template_id: Schema.String, main_content_filename: Schema.String },
    Schema.Record({ key: Schema.String, value: Schema.Unknown })
  )
)
const transcribe = { filename: "gs://bucket/a.wav", user_id: "123" }
const auth = { "x-tasks-auth": secret }

/** Handlers that put what they receive (and the task context) in a queue. */
const recordingHandlers = Effect.gen(function*() {
  const received = yield* Queue.unbounded<{ readonly payload: unknown; readonly task: TaskContextShape }>()
  const record = (payload: unknown) =>
    Effect.flatMap(TaskContext, (task) => Queue.offer(received, { payload, task }))
  const layer = taskHandlersLayer(handleTask(Transcribe, record), handleTask(Assemble, record))
  return { received, layer }
})

describe("TaskServer: answers", () => {
  it.scopedLive("401 without X-Tasks-Auth or with a wrong one, and the handler never runs", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      const missing = yield* server.post(Transcribe.path, transcribe)
      const wrong = yield* server.post(Transcribe.path, transcribe, { "x-tasks-auth": "not-the-secret" })
      expect([missing.status, wrong.status]).toEqual([401, 401])
      yield* server.server.drain
      expect(yield* Queue.size(received)).toBe(0)
      expect(logs.of(Events.serverUnauthorized).map((entry) => entry.annotations.reason)).toEqual(["missing", "mismatch"])
      expect(logs.of(Events.serverUnauthorized)[0]?.annotations.path).toBe(Transcribe.path)
    }).pipe(Effect.provide(logLayer))
  })

  it.scopedLive("in production with neither TASKS_AUTH nor OIDC it says so at start and refuses every request", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer, { config: { appEnv: "production" } })
      const [missing] = logs.of(Events.serverAuthMissing)
      expect(missing?.level).toBe("WARN")
      expect(missing?.message).toContain("Neither TASKS_AUTH nor TASKS_OIDC_AUDIENCE is set")
      const refused = yield* server.post(Transcribe.path, transcribe, { "x-tasks-auth": "anything" })
      expect(refused.status).toBe(401)
      expect(logs.of(Events.serverUnauthorized).map((entry) => entry.annotations.reason)).toEqual(["not_configured"])
      yield* server.server.drain
      expect(yield* Queue.size(received)).toBe(0)
    }).pipe(Effect.provide(logLayer))
  })

  it.scopedLive("allowUnauthenticated leaves authentication to the platform: no warning, the handler runs", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer, { config: { appEnv: "production" }, server: { allowUnauthenticated: true } })
      expect((yield* server.post(Transcribe.path, transcribe)).status).toBe(200)
      expect(yield* Queue.size(received)).toBe(1)
      expect(logs.of(Events.serverAuthMissing)).toEqual([])
    }).pipe(Effect.provide(logLayer))
  })

  it.scopedLive("compares X-Tasks-Auth with crypto.timingSafeEqual on equal-length digests", () =>
    Effect.gen(function*() {
      const { layer } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      const spy = vi.mocked(timingSafeEqual)
      spy.mockClear()
      const short = yield* server.post(Transcribe.path, transcribe, { "x-tasks-auth": "x" })
      const right = yield* server.post(Transcribe.path, transcribe, auth)
      expect([short.status, right.status]).toEqual([401, 200])
      expect(spy).toHaveBeenCalledTimes(2)
      for (const [a, b] of spy.mock.calls) expect((a as Buffer).length).toBe((b as Buffer).length)
      expect(spy.mock.results.map((result) => result.value)).toEqual([false, true])
    }))

  it.scopedLive("200 once the handler succeeded, with the payload decoded and extra fields kept", () =>
    Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      const payload = { episode_id: "e1", template_id: "t1", main_content_filename: "gs://b/m.wav", intro: [1, 2] }
      const response = yield* server.post(Assemble.path, payload, auth)
      expect(response.status).toBe(200)
      // Answered after the handler ran: what it got is already there.
      expect((yield* Queue.poll(received)).pipe(Option.map((got) => got.payload))).toEqual(Option.some(payload))
    }))

  it.scopedLive("413 for a body over the Cloud Tasks task limit, refused before parsing", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      const huge = JSON.stringify({ ...transcribe, filler: "x".repeat(MAX_TASK_BYTES) })
      const response = yield* server.post(Transcribe.path, huge, auth)
      expect(response.status).toBe(413)
      expect(yield* Queue.size(received)).toBe(0)
      expect(logs.of(Events.serverInvalidPayload)[0]?.annotations).toMatchObject({
        reason: "payload_too_large",
        status: 413
      })
    }).pipe(Effect.provide(logLayer))
  })

  it.scopedLive("the body limit is the server's own, even where the platform's MaxBodySize is smaller", () =>
    Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer).pipe(
        Effect.provideService(IncomingMessage.MaxBodySize, Option.some(FileSystem.Size(8)))
      )
      expect((yield* server.post(Transcribe.path, transcribe, auth)).status).toBe(200)
      expect((yield* Queue.take(received)).payload).toEqual(transcribe)
    }))

  it.scopedLive("413 for a chunked body (no Content-Length) a little over the limit, and the connection closes", () =>
    Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer, { server: { maxBodyBytes: 1024 } })
      const status = yield* Effect.promise(async () => {
        const chunk = new TextEncoder().encode(" ".repeat(512))
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (let i = 0; i < 3; i++) controller.enqueue(chunk)
            controller.close()
          }
        })
        const init = { method: "POST", headers: auth, body, duplex: "half" } as RequestInit
        return fetch(server.url + Transcribe.path, init).then((response) => response.status)
      })
      expect(status).toBe(413)
      expect(yield* Queue.size(received)).toBe(0)
    }))

  it.scopedLive("an endless chunked body is not read to its end: the server stops reading and drops the connection", () =>
    Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer, { server: { maxBodyBytes: 1024 } })
      // Resolves only once the server has closed the connection.
      const answer = yield* endlessUpload(server.url, Transcribe.path, auth)
      // What the sockets buffered, not what a reader took: far less than an endless body.
      expect(answer.sent).toBeLessThan(64 * 1024 * 1024)
      expect(yield* Queue.size(received)).toBe(0)
      expect((yield* server.post(Transcribe.path, transcribe, auth)).status).toBe(200)
    }))

  it.scopedLive("401 without reading an unauthenticated endless body; the connection closes", () =>
    Effect.gen(function*() {
      const { layer } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      for (const headers of [{}, { "x-tasks-auth": "wrong" }]) {
        const answer = yield* endlessUpload(server.url, Transcribe.path, headers)
        expect(answer.status).toBe(401)
        expect(answer.sent).toBeLessThan(64 * 1024 * 1024)
      }
      // The server still serves the next request.
      expect((yield* server.post(Transcribe.path, transcribe, auth)).status).toBe(200)
    }))

  it.scopedLive("logs where it listens, with the paths it serves", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const { layer } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      expect(logs.of(Events.serverListening).map((entry) => [entry.level, entry.annotations.address, entry.annotations.paths]))
        .toEqual([["INFO", server.url, "/api/tasks/transcribe,/api/tasks/assemble"]])
    }).pipe(Effect.provide(logLayer))
  })

  it.scopedLive("task paths match exactly: every variant is a 404 naming the path, and the handler never runs", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      const variants = [
        "/api/tasks/transcribe/",
        "//api/tasks/transcribe",
        "/api/tasks/TRANSCRIBE",
        "/api/tasks/transcrib%65",
        "/api/tasks/transcribe;x",
        "/api/tasks/transcribe?x=1",
        "/api/tasks/unknown"
      ]
      for (const path of variants) {
        const answer = yield* rawRequest(
          server.url,
          `POST ${path} HTTP/1.1\r\nX-Tasks-Auth: ${secret}\r\nContent-Type: application/json`,
          JSON.stringify(transcribe)
        )
        expect(answer.status, path).toBe(404)
      }
      expect(yield* Queue.size(received)).toBe(0)
      expect(logs.of(Events.serverNotFound).map((entry) => entry.annotations.path)).toEqual(variants)
      expect(logs.of(Events.serverNotFound).every((entry) => entry.level === "WARN")).toBe(true)
    }).pipe(Effect.provide(logLayer))
  })

  it.scopedLive("a payload never carries inherited fields, even through a Schema that keeps extra keys", () =>
    Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      const fields = '"episode_id":"1","template_id":"2","main_content_filename":"gs://b/m.wav"'
      for (const key of ["__proto__", "\\u005f_proto__"]) {
        const response = yield* server.post(Assemble.path, `{${fields},"${key}":{"role":"admin"}}`, auth)
        expect(response.status).toBe(200)
        const { payload } = yield* Queue.take(received)
        expect((payload as { role?: unknown }).role).toBeUndefined()
        expect(Object.getPrototypeOf(payload)).toBe(Object.prototype)
        expect(payload).toEqual({ episode_id: "1", template_id: "2", main_content_filename: "gs://b/m.wav" })
      }
    }))

  it.scopedLive("400 for a body that is not JSON", () =>
    Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      const response = yield* server.post(Transcribe.path, "{not json", auth)
      expect(response.status).toBe(400)
      expect(JSON.parse(response.body)).toMatchObject({ error: "malformed_json" })
      expect(yield* Queue.size(received)).toBe(0)
    }))

  it.scopedLive("422 for a body that fails the Schema, naming the fields and not the values", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      const response = yield* server.post(Transcribe.path, { filename: 1234567, extra: "private-value" }, auth)
      expect(response.status).toBe(422)
      const body = JSON.parse(response.body)
      expect(body.issues).toEqual([
        { path: "filename", problem: "must be string" },
        { path: "user_id", problem: "is missing" }
      ])
      expect(response.body).not.toContain("1234567")
      expect(yield* Queue.size(received)).toBe(0)
      const logged = logs.of(Events.serverInvalidPayload)
      expect(logged.map((entry) => entry.annotations.status)).toEqual([422])
      expect(logged[0]?.line).not.toContain("1234567")
    }).pipe(Effect.provide(logLayer))
  })

  it.scopedLive("404 for a path without a handler", () =>
    Effect.gen(function*() {
      const { layer } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      expect((yield* server.post("/api/tasks/unknown", {}, auth)).status).toBe(404)
    }))

  it.scopedLive("500 when the handler fails or dies, so that Cloud Tasks retries", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const server = yield* startTaskServer(
        TaskHandlers.layer({
          "/fails": () => Effect.fail("transcoder unavailable"),
          "/dies": () => Effect.die(new Error("bug")),
          // A handler that throws instead of returning an effect has died just the same.
          "/throws": (): Effect.Effect<void> => {
            throw new Error("thrown, not returned")
          }
        })
      )
      expect((yield* server.post("/fails", {}, auth)).status).toBe(500)
      expect((yield* server.post("/dies", {}, auth)).status).toBe(500)
      expect((yield* server.post("/throws", {}, auth)).status).toBe(500)
      expect(logs.of(Events.serverFailed).map((entry) => entry.annotations.path)).toEqual(["/fails", "/dies", "/throws"])
      expect(logs.of(Events.serverFailed)[0]?.cause).toContain("transcoder unavailable")
      expect(logs.of(Events.serverFailed)[2]?.cause).toContain("thrown, not returned")
    }).pipe(Effect.provide(logLayer))
  })

  it.scopedLive("with the minimum log level at Warning a failed task is still logged, and nothing else", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const server = yield* startTaskServer(
        TaskHandlers.layer({ "/ok": () => Effect.void, "/fails": () => Effect.fail("transcoder unavailable") })
      ).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))
      expect((yield* server.post("/ok", {}, auth)).status).toBe(200)
      expect((yield* server.post("/fails", {}, auth)).status).toBe(500)
      expect(logs.entries.map((entry) => [entry.level, entry.annotations.event, entry.annotations.path])).toEqual([
        ["ERROR", Events.serverFailed, "/fails"]
      ])
    }).pipe(Effect.provide(logLayer))
  })

  it.scopedLive("202 with Prefer: respond-async while the handler still runs in the background", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const done = yield* Queue.unbounded<unknown>()
      const server = yield* startTaskServer(
        taskHandlersLayer(
          handleTask(Transcribe, (payload) => Effect.andThen(Deferred.await(gate), Queue.offer(done, payload)))
        )
      )
      const response = yield* server.post(Transcribe.path, transcribe, { ...auth, prefer: "respond-async" })
      // The handler is blocked on the gate, yet the answer is already here.
      expect(response.status).toBe(202)
      expect(yield* Queue.size(done)).toBe(0)
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Queue.take(done)).toEqual(transcribe)
      yield* server.server.drain
      expect(logs.events().filter((event) => event.startsWith("tasks.server.") && event !== Events.serverListening)).toEqual([
        Events.serverReceived,
        Events.serverAccepted,
        Events.serverSucceeded
      ])
    }).pipe(Effect.provide(logLayer))
  })

  it.scopedLive("respond-async still checks the payload first: 422, and the handler never runs", () =>
    Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      const response = yield* server.post(Transcribe.path, { filename: "a" }, { ...auth, prefer: "respond-async" })
      expect(response.status).toBe(422)
      yield* server.server.drain
      expect(yield* Queue.size(received)).toBe(0)
    }))

  // A respond-async handler runs on a fiber of its own; any other runs on its request's,
  // which waits for it: closing the server waits for both the same way.
  for (
    const mode of [
      { handler: "a background task", headers: { prefer: "respond-async" }, finished: 202, interrupted: 202 },
      { handler: "a handler its request waits for", headers: {}, finished: 200, interrupted: 503 }
    ]
  ) {
    it.live(`closing the server lets ${mode.handler} finish instead of dropping it`, () =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const started = yield* Deferred.make<void>()
        const finished: Array<unknown> = []
        const scope = yield* Scope.make()
        const server = yield* startTaskServer(
          taskHandlersLayer(
            handleTask(Transcribe, (payload) =>
              Effect.gen(function*() {
                yield* Deferred.succeed(started, undefined)
                yield* Deferred.await(gate)
                yield* Effect.sleep("20 millis")
                finished.push(payload)
              }))
          )
        ).pipe(Scope.extend(scope))
        const response = yield* Effect.fork(server.post(Transcribe.path, transcribe, { ...auth, ...mode.headers }))
        yield* Deferred.await(started)
        // Opens the gate as the first step of closing, while the task is still running.
        yield* Scope.addFinalizer(scope, Deferred.succeed(gate, undefined))
        yield* Scope.close(scope, Exit.void)
        expect(finished).toEqual([transcribe])
        expect((yield* Fiber.join(response)).status).toBe(mode.finished)
      }))

    it.live(`past the grace period, closing interrupts ${mode.handler} and logs it with its task name`, () => {
      const { layer, logs } = captureLogs()
      return Effect.gen(function*() {
        const started = yield* Deferred.make<void>()
        const scope = yield* Scope.make()
        const server = yield* startTaskServer(
          taskHandlersLayer(
            handleTask(Transcribe, () => Effect.zipRight(Deferred.succeed(started, undefined), Effect.never))
          ),
          { server: { gracePeriod: "50 millis" } }
        ).pipe(Scope.extend(scope))
        const headers = { ...auth, ...mode.headers, "X-CloudTasks-TaskName": "stuck-1" }
        const response = yield* Effect.fork(server.post(Transcribe.path, transcribe, headers))
        yield* Deferred.await(started)
        yield* Scope.close(scope, Exit.void)
        expect((yield* Fiber.join(response)).status).toBe(mode.interrupted)
        const interrupted = logs.of(Events.serverInterrupted)
        expect(interrupted.map((entry) => [entry.level, entry.message, entry.annotations.name])).toEqual([
          ["WARN", "Task handler interrupted", "stuck-1"]
        ])
        expect(logs.of(Events.serverCloseTimedOut).map((entry) => entry.annotations.count)).toEqual([1])
        expect(logs.of(Events.serverSucceeded)).toEqual([])
        expect(logs.of(Events.serverFailed)).toEqual([])
      }).pipe(Effect.provide(layer))
    })
  }

  it.scopedLive("a client that goes away interrupts the handler its request waits for, and it is logged", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const server = yield* startTaskServer(
        taskHandlersLayer(handleTask(Transcribe, () =>
          Effect.zipRight(Deferred.succeed(started, undefined), Effect.never).pipe(
            Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
          )))
      )
      const controller = new AbortController()
      const request = fetch(server.url + Transcribe.path, {
        method: "POST",
        headers: { "content-type": "application/json", ...auth, "X-CloudTasks-TaskName": "gone-1" },
        body: JSON.stringify(transcribe),
        signal: controller.signal
      }).catch(() => "aborted")
      yield* Deferred.await(started)
      controller.abort()
      expect(yield* Effect.promise(() => request)).toBe("aborted")
      yield* Deferred.await(interrupted)
      // Waits for the request's fiber, which logs the interruption as it ends.
      yield* server.server.drain
      expect(logs.of(Events.serverInterrupted).map((entry) => [entry.level, entry.annotations.name])).toEqual([
        ["WARN", "gone-1"]
      ])
      expect(logs.of(Events.serverSucceeded)).toEqual([])
    }).pipe(Effect.provide(layer))
  })
})

describe("TaskServer: TaskContext", () => {
  it.scopedLive("parses the Cloud Tasks headers: numbers as numbers, the ETA as a Date", () =>
    Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      yield* server.post(Transcribe.path, transcribe, {
        ...auth,
        "X-CloudTasks-TaskName": "task-42",
        "X-CloudTasks-QueueName": "media",
        "X-CloudTasks-TaskRetryCount": "2",
        "X-CloudTasks-TaskExecutionCount": "1",
        "X-CloudTasks-TaskETA": "1767323045.5",
        "X-CloudTasks-TaskPreviousResponse": "404",
        "X-CloudTasks-TaskRetryReason": ""
      })
      const { task } = yield* Queue.take(received)
      expect(task).toEqual({
        taskName: Option.some("task-42"),
        queueName: Option.some("media"),
        retryCount: Option.some(2),
        executionCount: Option.some(1),
        eta: Option.some(new Date("2026-01-02T03:04:05.500Z")),
        previousResponse: Option.some(404),
        retryReason: Option.some(""),
        lastAttempt: Option.none()
      })
    }))

  it.scopedLive("every field is None when the request did not come from Cloud Tasks", () =>
    Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      yield* server.post(Transcribe.path, transcribe, { ...auth, "X-CloudTasks-TaskRetryCount": "two" })
      const { task } = yield* Queue.take(received)
      expect(Object.values(task).every(Option.isNone)).toBe(true)
    }))

  it.scopedLive("the receive-side events carry the path and the task name, never the secret", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const { layer } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      yield* server.post(Transcribe.path, transcribe, { ...auth, "X-CloudTasks-TaskName": "task-7" })
      const received = logs.of(Events.serverReceived)[0]
      expect(received?.annotations).toMatchObject({ path: Transcribe.path, name: "task-7" })
      expect(logs.of(Events.serverSucceeded)[0]?.annotations).toMatchObject({ path: Transcribe.path, name: "task-7" })
      expect(logs.entries.some((entry) => entry.line.includes(secret))).toBe(false)
    }).pipe(Effect.provide(logLayer))
  })
})

describe("TaskServer: the worker and loopback routes end to end", () => {
  const client = (config: TasksConfigInput, handlers: Layer.Layer<TaskHandlers>) =>
    TasksClient.layerWith({ appEnv: "test", auth: secret, ...config }).pipe(Layer.provide(handlers))

  it.scopedLive("the worker route delivers a typed task to the server's handler", () =>
    Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      const payload = { episode_id: "e1", template_id: "t1", main_content_filename: "gs://b/m.wav", chunks: 3 }
      const info = yield* enqueueTask(Assemble, payload).pipe(
        Effect.provide(client({ useWorkerInDev: true, workerUrlBase: server.url }, layer))
      )
      expect(info.route).toBe("worker")
      expect(info.name).toMatch(/^dev-worker-dispatch-\d{4}-\d\d-\d\dT[\d:.]+Z$/)
      expect((yield* Queue.take(received)).payload).toEqual(payload)
    }))

  it.scopedLive("the loopback route delivers every task to the server's handler", () =>
    Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      const info = yield* enqueueTask(Transcribe, transcribe).pipe(
        Effect.provide(client({ forceHttpLoopback: true, urlBase: server.url }, layer))
      )
      expect(info.route).toBe("loopback")
      expect(info.name).toMatch(/^local-loopback-/)
      expect((yield* Queue.take(received)).payload).toEqual(transcribe)
    }))

  it.scopedLive("the caller learns of a refusal: a wrong secret is 401, a bad payload 422", () =>
    Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const server = yield* startTaskServer(layer)
      const wrongSecret = yield* enqueueTask(Transcribe, transcribe).pipe(
        Effect.provide(client({ forceHttpLoopback: true, urlBase: server.url, auth: "other" }, layer)),
        Effect.either
      )
      const badPayload = yield* enqueueHttpTask(Transcribe.path, { filename: "a.wav" }).pipe(
        Effect.provide(client({ forceHttpLoopback: true, urlBase: server.url }, layer)),
        Effect.either
      )
      for (const [result, status] of [[wrongSecret, 401], [badPayload, 422]] as const) {
        expect(Either.isLeft(result)).toBe(true)
        const error = Either.getLeft(result).pipe(Option.getOrThrow)
        expect(error).toBeInstanceOf(DispatchError)
        expect(error).toMatchObject({ reason: "http_error", status, route: "loopback" })
      }
      expect(yield* Queue.size(received)).toBe(0)
    }))
})

describe("TaskServer: trace propagation", () => {
  const traced = (options: { readonly httpTracer: boolean; readonly spanAnnotations?: boolean }) =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const seen = yield* Queue.unbounded<void>()
      const handlers = taskHandlersLayer(
        handleTask(Transcribe, () => Queue.offer(seen, undefined).pipe(Effect.withSpan("transcribe-work")))
      )
      yield* Effect.gen(function*() {
        const server = yield* startTaskServer(handlers).pipe(
          Effect.locally(HttpMiddleware.currentTracerDisabledWhen, () => !options.httpTracer),
          options.spanAnnotations === true ? Effect.annotateSpans("deployment", "blue") : (effect) => effect
        )
        yield* enqueueTask(Transcribe, transcribe).pipe(
          Effect.withSpan("user-request"),
          Effect.provide(
            TasksClient.layerWith({ appEnv: "test", auth: secret, forceHttpLoopback: true, urlBase: server.url }).pipe(
              Layer.provide(handlers)
            )
          )
        )
        yield* Queue.take(seen)
      }).pipe(Effect.withTracer(tracer))
      const work = spans.find((span) => span.name === "transcribe-work")!
      const request = spans.find((span) => span.name === "user-request")!
      return { spans, work, request }
    })

  it.scopedLive("the handler's span is a descendant of the span that enqueued the task", () =>
    Effect.gen(function*() {
      const { spans, work, request } = yield* traced({ httpTracer: true })
      expect(work.traceId).toBe(request.traceId)
      const chain = ancestors(spans, work)
      // The loopback route asks for respond-async: the handler outlives its request's span.
      expect(chain.slice(0, 2)).toEqual(["TaskServer.run", "TaskServer.handle"])
      expect(chain).toContain("user-request")
      // Both spans name the task path; a trace viewer shows the request as served, the run as work inside it.
      for (const [name, kind] of [["TaskServer.run", "internal"], ["TaskServer.handle", "server"]]) {
        const span = spans.find((candidate) => candidate.name === name)!
        expect(span.attributes.get("tasks.path"), name).toBe(Transcribe.path)
        expect(span.kind, name).toBe(kind)
      }
      // The secret sent as X-Tasks-Auth is in no span attribute, on either side.
      const values = spans.flatMap((span) => [...span.attributes.values()].map(String))
      expect(values.some((value) => value.includes(secret))).toBe(false)
    }))

  it.scopedLive("a task answered when its handler ends is one span, which ends with the handler's exit", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const server = yield* startTaskServer(
        taskHandlersLayer(
          handleTask(Transcribe, () => Effect.withSpan(Effect.void, "transcribe-work")),
          handleTask(Assemble, () => Effect.fail("boom"))
        )
      ).pipe(Effect.withTracer(tracer))
      expect((yield* server.post(Transcribe.path, transcribe, auth)).status).toBe(200)
      const assemble = { episode_id: "e", template_id: "t", main_content_filename: "m" }
      expect((yield* server.post(Assemble.path, assemble, auth)).status).toBe(500)
      const work = spans.find((span) => span.name === "transcribe-work")!
      expect(ancestors(spans, work).slice(0, 2)).toEqual(["TaskServer.handle", "http.server POST"])
      const handled = spans.filter((span) => span.name === "TaskServer.handle")
      expect(handled.map((span) => [span.attributes.get("tasks.path"), span.exit?._tag])).toEqual([
        [Transcribe.path, "Success"],
        [Assemble.path, "Failure"]
      ])
      // The handler's run is that same span: `TaskServer.run` is for respond-async only.
      expect(spans.filter((span) => span.name === "TaskServer.run")).toEqual([])
    }))

  it.scopedLive("tracing turned off records no span of the server; span annotations in scope are on its span", () =>
    Effect.gen(function*() {
      const handlers = taskHandlersLayer(handleTask(Transcribe, () => Effect.void))
      const { spans, tracer } = recordingTracer()
      const off = yield* startTaskServer(handlers).pipe(Effect.withTracerEnabled(false), Effect.withTracer(tracer))
      expect((yield* off.post(Transcribe.path, transcribe, auth)).status).toBe(200)
      expect(spans.map((span) => span.name)).toEqual([])
      const annotated = yield* startTaskServer(handlers).pipe(Effect.annotateSpans("deployment", "blue"), Effect.withTracer(tracer))
      expect((yield* annotated.post(Transcribe.path, transcribe, auth)).status).toBe(200)
      const handled = spans.filter((span) => span.name === "TaskServer.handle")
      // Still the server's span for the path, beside the annotation.
      expect(handled.map((span) => [span.attributes.get("deployment"), span.kind, span.attributes.get("tasks.path")]))
        .toEqual([["blue", "server", Transcribe.path]])
    }))

  it.scopedLive("with the platform's HTTP tracer off, tracing off records no span; tracing on, the task's span starts a trace", () =>
    Effect.gen(function*() {
      const handlers = taskHandlersLayer(handleTask(Transcribe, () => Effect.void))
      const { spans, tracer } = recordingTracer()
      const noHttpSpan = Effect.locally(HttpMiddleware.currentTracerDisabledWhen, () => true)
      const off = yield* startTaskServer(handlers).pipe(noHttpSpan, Effect.withTracerEnabled(false), Effect.withTracer(tracer))
      expect((yield* off.post(Transcribe.path, transcribe, auth)).status).toBe(200)
      expect(spans.map((span) => span.name)).toEqual([])
      // No platform span and no traceparent: nothing to continue.
      const on = yield* startTaskServer(handlers).pipe(noHttpSpan, Effect.withTracer(tracer))
      expect((yield* on.post(Transcribe.path, transcribe, auth)).status).toBe(200)
      expect(spans.map((span) => [span.name, span.parentSpanId, span.exit?._tag])).toEqual([
        ["TaskServer.handle", undefined, "Success"]
      ])
    }))

  it.scopedLive("span links in scope are on the server's span; without them it has none", () =>
    Effect.gen(function*() {
      const handlers = taskHandlersLayer(handleTask(Transcribe, () => Effect.void))
      const { spans, tracer } = recordingTracer()
      const upstream = Tracer.externalSpan({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" })
      const plain = yield* startTaskServer(handlers).pipe(Effect.withTracer(tracer))
      expect((yield* plain.post(Transcribe.path, transcribe, auth)).status).toBe(200)
      const linked = yield* startTaskServer(handlers).pipe(Effect.linkSpans(upstream), Effect.withTracer(tracer))
      expect((yield* linked.post(Transcribe.path, transcribe, auth)).status).toBe(200)
      const handled = spans.filter((span) => span.name === "TaskServer.handle")
      expect(handled.map((span) => span.links.map((link) => link.span.spanId))).toEqual([[], ["00f067aa0ba902b7"]])
    }))

  it.scopedLive("a link a handler adds to its span stays on that span, with a tracer that keeps the links array it is given", () =>
    Effect.gen(function*() {
      const upstream = Tracer.externalSpan({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" })
      const handled: Array<ReadonlyArray<Tracer.SpanLink>> = []
      let next = 0
      // As @effect/opentelemetry's spans do: the array of links is kept as given, and added to.
      const keeping = Tracer.make({
        context: (f) => f(),
        span: (name, parent, context, links, startTime, kind) => {
          const kept = links as Array<Tracer.SpanLink>
          if (name === "TaskServer.handle") handled.push(kept)
          return {
            _tag: "Span",
            name,
            spanId: String(++next).padStart(16, "0"),
            traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
            parent,
            context,
            status: { _tag: "Started", startTime },
            attributes: new Map(),
            links: kept,
            sampled: true,
            kind,
            attribute: () => {},
            event: () => {},
            addLinks: (more) => {
              kept.push(...more)
            },
            end: () => {}
          }
        }
      })
      const server = yield* startTaskServer(taskHandlersLayer(handleTask(Transcribe, () => Effect.linkSpanCurrent(upstream))))
        .pipe(Effect.withTracer(keeping))
      for (let i = 0; i < 2; i++) expect((yield* server.post(Transcribe.path, transcribe, auth)).status).toBe(200)
      expect(handled.map((links) => links.length)).toEqual([1, 1])
    }))

  it.scopedLive("the trace continues from traceparent even with the platform's HTTP tracer off", () =>
    Effect.gen(function*() {
      const { spans, work, request } = yield* traced({ httpTracer: false })
      expect(work.traceId).toBe(request.traceId)
      expect(ancestors(spans, work)).toContain("user-request")
      expect(ancestors(spans, work)).not.toContain("http.server POST")
    }))

  it.scopedLive("so it does when span annotations in scope start the span through Effect.makeSpan", () =>
    Effect.gen(function*() {
      const { spans, work, request } = yield* traced({ httpTracer: false, spanAnnotations: true })
      expect(work.traceId).toBe(request.traceId)
      expect(ancestors(spans, work)).toContain("user-request")
      const handled = spans.find((span) => span.name === "TaskServer.handle")!
      expect([handled.attributes.get("deployment"), handled.kind, handled.attributes.get("tasks.path")]).toEqual([
        "blue",
        "server",
        Transcribe.path
      ])
    }))
})

describe("TaskServer: a web-standard handler", () => {
  it.live("serves (Request) => Promise<Response> with the same checks", () =>
    Effect.gen(function*() {
      const { layer, received } = yield* recordingHandlers
      const { dispose, handler } = toWebHandler(
        TaskServer.layerWith({ appEnv: "test", auth: secret }).pipe(Layer.provide(layer))
      )
      const post = (headers: Record<string, string>, body: unknown = transcribe) =>
        Effect.promise(() =>
          handler(
            new Request(`http://tasks.example${Transcribe.path}`, {
              method: "POST",
              headers,
              body: JSON.stringify(body)
            })
          ).then((response) => response.status)
        )
      yield* Effect.addFinalizer(() => Effect.promise(dispose))
      expect(yield* post({})).toBe(401)
      expect(yield* post(auth, { filename: "a" })).toBe(422)
      expect(yield* post(auth)).toBe(200)
      expect(yield* post({ ...auth, Prefer: "respond-async" })).toBe(202)
      expect((yield* Queue.take(received)).payload).toEqual(transcribe)
      expect((yield* Queue.take(received)).payload).toEqual(transcribe)
    }).pipe(Effect.scoped))

  // The web handler lets a test watch what no socket shows: how much of a body the server
  // pulled, and requests that reach the handler while (or after) its runtime is disposed,
  // as a framework serving it still forwards them.
  const webPost = (handler: (request: Request) => Promise<Response>, path: string, body: BodyInit = "{}") =>
    Effect.promise(async () => {
      const init = { method: "POST", headers: { ...auth, "content-type": "application/json" }, body, duplex: "half" }
      const response = await handler(new Request(`http://tasks.example${path}`, init as RequestInit))
      const text = await response.text()
      return [response.status, text === "" ? undefined : JSON.parse(text)] as const
    })

  it.live("a long chunked body is read to twice the limit and no further: 413, and the upload is cancelled", () =>
    Effect.gen(function*() {
      const { dispose, handler } = toWebHandler(
        TaskServer.layerWith({ appEnv: "test", auth: secret }, { maxBodyBytes: 100 }).pipe(
          Layer.provide(TaskHandlers.layer({ "/ok": () => Effect.void }))
        )
      )
      yield* Effect.addFinalizer(() => Effect.promise(dispose))
      // 10-byte chunks, each made only when the server asks for it; 1,000 bytes in all.
      const upload = { pulled: 0, cancelled: false }
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.enqueue(new Uint8Array(10).fill(0x20))
          upload.pulled += 10
          if (upload.pulled === 1000) controller.close()
        },
        cancel() {
          upload.cancelled = true
        }
      }, { highWaterMark: 0 })
      expect(yield* webPost(handler, "/ok", body)).toEqual([413, {
        error: "payload_too_large",
        message: "The body is larger than 100 bytes"
      }])
      // The chunk that went past 200 bytes was the last one read.
      expect(upload).toEqual({ pulled: 210, cancelled: true })
    }).pipe(Effect.scoped))

  it.live("a span in between that stops propagation is passed over: the task's span is the HTTP span's child", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const { dispose, handler } = toWebHandler(
        TaskServer.layerWith({ appEnv: "test", auth: secret }).pipe(
          Layer.provide(TaskHandlers.layer({ "/ok": () => Effect.void })),
          Layer.merge(Layer.setTracer(tracer))
        ),
        // e.g. a proxy hop kept out of traces: its span is never exported.
        { middleware: (app) => Effect.withSpan(app, "proxy-hop", { context: Context.make(Tracer.DisablePropagation, true) }) }
      )
      yield* Effect.addFinalizer(() => Effect.promise(dispose))
      expect(yield* webPost(handler, "/ok")).toEqual([200, { status: "succeeded" }])
      const handled = spans.find((span) => span.name === "TaskServer.handle")!
      expect(ancestors(spans, handled)).toEqual(["http.server POST"])
    }).pipe(Effect.scoped))

  it.live("a client that goes away while its body is read is not logged as an interrupted handler: none ran", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const ran = yield* Deferred.make<void>()
      const { dispose, handler } = toWebHandler(
        TaskServer.layerWith({ appEnv: "test", auth: secret }).pipe(
          Layer.provide(TaskHandlers.layer({ "/ok": () => Deferred.succeed(ran, undefined) })),
          Layer.provideMerge(logLayer)
        )
      )
      yield* Effect.addFinalizer(() => Effect.promise(dispose))
      // A chunked body whose first chunk never comes: the server waits in its read.
      const reading = yield* Deferred.make<void>()
      const body = new ReadableStream<Uint8Array>({
        pull: () => {
          Effect.runSync(Deferred.succeed(reading, undefined))
          return new Promise<void>(() => {})
        }
      }, { highWaterMark: 0 })
      const client = new AbortController()
      const init = { method: "POST", headers: auth, body, duplex: "half", signal: client.signal }
      const answer = yield* Effect.fork(
        Effect.promise(() => handler(new Request("http://tasks.example/ok", init as RequestInit)))
      )
      yield* Deferred.await(reading)
      client.abort()
      // The request's fiber has ended (and logged what it logs) once it is answered.
      expect((yield* Fiber.join(answer)).status).toBe(499)
      expect(logs.of(Events.serverInterrupted)).toEqual([])
      expect(yield* Deferred.isDone(ran)).toBe(false)
    }).pipe(Effect.scoped)
  })

  it.scopedLive("a client that goes away mid-body on a real server gets no refusal and is logged as no bad payload: its read never ended", () => {
    const { layer: logLayer, logs } = captureLogs()
    let ran = 0
    return Effect.gen(function*() {
      const server = yield* startTaskServer(TaskHandlers.layer({ "/ok": () => Effect.sync(() => ran++) }))
      for (const framing of ["declared", "chunked"] as const) {
        const answer = yield* cutOffUpload(server.url, "/ok", auth, framing)
        // Node's parser may answer a half-closed request itself (400, no body); no refusal of ours.
        expect([framing, answer.text.split("\r\n\r\n")[1] ?? ""]).toEqual([framing, ""])
      }
      yield* server.server.drain
      expect(logs.of(Events.serverReceived)).toHaveLength(2)
      // Neither a 413 for the declared length nor "not UTF-8" for the chunk: the read never ended.
      expect(logs.of(Events.serverInvalidPayload)).toEqual([])
      expect(ran).toBe(0)
    }).pipe(Effect.provide(logLayer))
  })

  it.live("a POST without a body (a web request then has no stream) is read as empty: 400, not JSON", () =>
    Effect.gen(function*() {
      const { dispose, handler } = toWebHandler(
        TaskServer.layerWith({ appEnv: "test", auth: secret }).pipe(Layer.provide(TaskHandlers.layer({ "/ok": () => Effect.void })))
      )
      yield* Effect.addFinalizer(() => Effect.promise(dispose))
      const response = yield* Effect.promise(async () => {
        const answer = await handler(new Request("http://tasks.example/ok", { method: "POST", headers: auth }))
        return [answer.status, await answer.json()]
      })
      expect(response).toEqual([400, { error: "malformed_json", message: "The body is not valid JSON" }])
    }).pipe(Effect.scoped))

  it.live("closing: a request whose handler outlives the grace period is answered 503; one arriving after is refused 503", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const handlers = TaskHandlers.layer({
        "/stuck": () => Effect.zipRight(Deferred.succeed(started, undefined), Effect.never),
        "/ok": () => Effect.void
      })
      const { dispose, handler } = toWebHandler(
        TaskServer.layerWith({ appEnv: "test", auth: secret }, { gracePeriod: "0 millis" }).pipe(
          Layer.provide(handlers),
          Layer.provideMerge(logLayer)
        )
      )
      const stuck = yield* Effect.fork(webPost(handler, "/stuck"))
      yield* Deferred.await(started)
      yield* Effect.promise(dispose)
      // Interrupted by the close, not failed: Cloud Tasks retries the 503 (the platform answers
      // it, without a body: the handler ran on the request's own fiber), and the log says so.
      expect(yield* Fiber.join(stuck)).toEqual([503, undefined])
      expect(logs.of(Events.serverInterrupted).map((entry) => [entry.level, entry.annotations.path])).toEqual([["WARN", "/stuck"]])
      expect(yield* webPost(handler, "/ok")).toEqual([503, {
        error: "shutting_down",
        message: "The server is shutting down"
      }])
      expect(logs.of(Events.serverRefused).map((entry) => [entry.level, entry.message, entry.annotations.status, entry.annotations.path]))
        .toEqual([["WARN", "Refused a task: the server is shutting down", 503, "/ok"]])
      expect(logs.of(Events.serverSucceeded)).toEqual([])
    })
  })
})

describe("TaskServer: handler outcomes mean what they mean to Cloud Tasks", () => {
  const Media = defineQueue("media", { maxAttempts: 3, minBackoff: "10 millis", maxBackoff: "20 millis" })
  const Steered = defineTask("/api/tasks/steered", Schema.Struct({ outcome: Schema.String }), { queue: Media })
  const steered = (seen: Array<Option.Option<boolean>>) =>
    taskHandlersLayer(handleTask(Steered, ({ outcome }) =>
      Effect.gen(function*() {
        const context = yield* TaskContext
        seen.push(context.lastAttempt)
        if (outcome === "soon" && Option.getOrElse(context.retryCount, () => 0) === 0) {
          return yield* new RetryAfterError({ after: "1 second", message: "not ready" })
        }
        if (outcome === "drop") return yield* new NonRetryableError({ message: "the upload is gone" })
        if (outcome === "later") return yield* new RetryAfterError({ after: "90 seconds", message: "quota" })
        if (outcome === "fail") return yield* Effect.fail("boom")
      })))

  it.scopedLive("NonRetryableError: 200, so that Cloud Tasks stops, and an error event saying it was dropped", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const server = yield* startTaskServer(steered([]))
      const response = yield* server.post(Steered.path, { outcome: "drop" }, auth)
      expect(response.status).toBe(200)
      expect(JSON.parse(response.body)).toEqual({ status: "dropped", message: "the upload is gone" })
      const [dropped] = logs.of(Events.serverDropped)
      expect(dropped?.level).toBe("ERROR")
      expect(dropped?.message).toBe("Task dropped, not retried: the upload is gone")
      expect(dropped?.annotations.status).toBe(200)
      expect(logs.of(Events.serverSucceeded)).toEqual([])
    }).pipe(Effect.provide(logLayer))
  })

  it.scopedLive("RetryAfterError: 503 with Retry-After in whole seconds; any other failure: 500", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const server = yield* startTaskServer(steered([]))
      const later = yield* Effect.promise(() =>
        fetch(server.url + Steered.path, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ outcome: "later" })
        })
      )
      expect(later.status).toBe(503)
      expect(later.headers.get("retry-after")).toBe("90")
      const [asked] = logs.of(Events.serverRetryLater)
      expect(asked?.level).toBe("WARN")
      expect(asked?.message).toBe("Task asks to be retried: quota")
      expect(asked?.annotations).toMatchObject({ status: 503, retry_after: "90" })
      expect((yield* server.post(Steered.path, { outcome: "fail" }, auth)).status).toBe(500)
      expect((yield* server.post(Steered.path, { outcome: "ok" }, auth)).status).toBe(200)
    }).pipe(Effect.provide(logLayer))
  })

  it.scopedLive("TaskContext says whether an attempt is the last its queue allows, for a request from that queue", () =>
    Effect.gen(function*() {
      const seen: Array<Option.Option<boolean>> = []
      const server = yield* startTaskServer(steered(seen))
      const from = (queue: string, retry: number) => ({
        ...auth,
        "X-CloudTasks-QueueName": queue,
        "X-CloudTasks-TaskRetryCount": String(retry)
      })
      yield* server.post(Steered.path, { outcome: "ok" }, from("media", 1))
      yield* server.post(Steered.path, { outcome: "ok" }, from("media", 2))
      yield* server.post(Steered.path, { outcome: "ok" }, from("other", 2))
      yield* server.post(Steered.path, { outcome: "ok" }, auth)
      expect(seen).toEqual([Option.some(false), Option.some(true), Option.none(), Option.none()])
    }))

  it.scopedLive("through the emulator: a dropped task is done after one attempt; Retry-After is honoured", () =>
    Effect.gen(function*() {
      const queue = "projects/p/locations/l/queues/media"
      const emulator = yield* Effect.acquireRelease(
        Effect.promise(() =>
          CloudTasksEmulator.start({
            queues: [queue],
            queueSettings: { maxAttempts: 3, minBackoff: "10 millis", maxBackoff: "20 millis" }
          })
        ),
        (running) => Effect.promise(() => running.stop())
      )
      const server = yield* startTaskServer(steered([]))
      const client = TasksClient.layerWith({
        appEnv: "production",
        project: "p",
        location: "l",
        queue: "media",
        urlBase: server.url,
        auth: secret,
        emulatorHost: emulator.host
      })
      const dropped = yield* enqueueTask(Steered, { outcome: "drop" }).pipe(Effect.provide(client))
      const outcome = yield* Effect.promise(() => emulator.waitForTask(dropped.name))
      expect(outcome.result).toBe("succeeded")
      expect(outcome.attempts.map((attempt) => attempt.status)).toEqual([200])
      const failing = yield* enqueueTask(Steered, { outcome: "fail" }).pipe(Effect.provide(client))
      const exhausted = yield* Effect.promise(() => emulator.waitForTask(failing.name))
      expect(exhausted.result).toBe("exhausted")
      expect(exhausted.attempts.map((attempt) => attempt.status)).toEqual([500, 500, 500])
      // 503 with Retry-After: 1, so the retry waits a second, not the queue's 10 ms backoff
      const soon = yield* enqueueTask(Steered, { outcome: "soon" }).pipe(Effect.provide(client))
      const retried = yield* Effect.promise(() => emulator.waitForTask(soon.name))
      expect(retried.result).toBe("succeeded")
      const [first, second] = retried.attempts
      expect([first?.status, second?.status]).toEqual([503, 200])
      expect(second!.startedAt.getTime() - first!.endedAt.getTime()).toBeGreaterThanOrEqual(1000)
    }))
})

describe("TaskServer: what a client and an operator read", () => {
  const answers = (server: { readonly url: string }, path: string, body: BodyInit, headers: Record<string, string> = auth) =>
    Effect.promise(async () => {
      const response = await fetch(server.url + path, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body
      })
      const text = await response.text()
      return [response.status, text === "" ? undefined : JSON.parse(text)] as const
    })
  const events = (logs: ReturnType<typeof captureLogs>["logs"], event: string) =>
    logs.of(event).map((entry) => [entry.level, entry.message, entry.annotations.status, entry.annotations.reason])

  it.scopedLive("each refusal's status, body and event", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const { layer } = yield* recordingHandlers
      const server = yield* startTaskServer(layer, { server: { maxBodyBytes: 100 } })
      const unauthorized = { error: "unauthorized", message: "The request is not authenticated" }
      expect(yield* answers(server, Transcribe.path, "{}", {})).toEqual([401, unauthorized])
      expect(yield* answers(server, Transcribe.path, "{}", { "x-tasks-auth": "wrong" })).toEqual([401, unauthorized])
      expect(events(logs, Events.serverUnauthorized)).toEqual([
        ["WARN", "Refused a task request without X-Tasks-Auth", 401, "missing"],
        ["WARN", "Refused a task request with a wrong X-Tasks-Auth", 401, "mismatch"]
      ])
      expect(yield* answers(server, "/api/tasks/Transcribe", "{}")).toEqual([
        404,
        { error: "not_found", message: "No task handler for this path" }
      ])
      expect(events(logs, Events.serverNotFound)).toEqual([
        ["WARN", "No task handler for /api/tasks/Transcribe: task paths match exactly", 404, undefined]
      ])
      const invalid = (status: number, reason: string, message: string) => [status, { error: reason, message }]
      expect(yield* answers(server, Transcribe.path, JSON.stringify({ pad: "x".repeat(100) }))).toEqual(
        invalid(413, "payload_too_large", "The body is larger than 100 bytes")
      )
      // Exactly the limit is read (and then found not to be JSON).
      expect(yield* answers(server, Transcribe.path, "x".repeat(100))).toEqual(
        invalid(400, "malformed_json", "The body is not valid JSON")
      )
      expect(yield* answers(server, Transcribe.path, new Uint8Array([0x7b, 0xff, 0x7d]))).toEqual(
        invalid(400, "malformed_json", "The body is not UTF-8 text")
      )
      expect(yield* answers(server, Transcribe.path, JSON.stringify({ filename: 1 }))).toEqual([422, {
        error: "invalid_payload",
        message: "Invalid payload for /api/tasks/transcribe: filename must be string; user_id is missing",
        issues: [{ path: "filename", problem: "must be string" }, { path: "user_id", problem: "is missing" }]
      }])
      expect(events(logs, Events.serverInvalidPayload)).toEqual([
        ["WARN", "The body is larger than 100 bytes", 413, "payload_too_large"],
        ["WARN", "The body is not valid JSON", 400, "malformed_json"],
        ["WARN", "The body is not UTF-8 text", 400, "malformed_json"],
        ["WARN", "Invalid payload for /api/tasks/transcribe: filename must be string; user_id is missing", 422, "invalid_payload"]
      ])
    }).pipe(Effect.provide(logLayer))
  })

  it.scopedLive("each outcome's status, body and event; Prefer: respond-async among other preferences", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const server = yield* startTaskServer(TaskHandlers.layer({
        "/ok": () => Effect.void,
        "/fails": () => Effect.fail("no"),
        "/later": () => new RetryAfterError({ after: "90 seconds", message: "quota" })
      }))
      expect(yield* answers(server, "/ok", "{}")).toEqual([200, { status: "succeeded" }])
      expect(yield* answers(server, "/fails", "{}")).toEqual([500, { error: "task_failed", message: "The task handler failed" }])
      expect(yield* answers(server, "/later", "{}")).toEqual([503, { error: "retry_later", message: "quota" }])
      expect(events(logs, Events.serverSucceeded)).toEqual([["INFO", "Task handler succeeded", undefined, undefined]])
      expect(events(logs, Events.serverFailed)).toEqual([["ERROR", "Task handler failed", 500, undefined]])
      expect(events(logs, Events.serverRetryLater)).toEqual([["WARN", "Task asks to be retried: quota", 503, undefined]])
      expect(logs.of(Events.serverRetryLater)[0]?.annotations.retry_after).toBe("90")
      for (const [prefer, status] of [
        ["wait=10, Respond-Async", 202],
        ["respond-async; wait=5", 202],
        ["respond-asyncx", 200],
        ["handling=lenient", 200]
      ] as const) {
        expect((yield* answers(server, "/ok", "{}", { ...auth, prefer }))[0], prefer).toBe(status)
      }
      expect(yield* answers(server, "/ok", "{}", { ...auth, prefer: "respond-async" })).toEqual([202, { status: "accepted" }])
      yield* server.server.drain
      expect(events(logs, Events.serverAccepted)[0]).toEqual([
        "INFO",
        "Task accepted; the handler runs in the background",
        202,
        undefined
      ])
      const received = logs.of(Events.serverReceived)[0]
      expect([received?.level, received?.message]).toEqual(["DEBUG", "Task request received"])
    }).pipe(Effect.provide(logLayer))
  })

  it.scopedLive("a 413 closes the connection, its body unread; a 400 or a 422 keeps it open", () =>
    Effect.gen(function*() {
      const { layer } = yield* recordingHandlers
      const server = yield* startTaskServer(layer, { server: { maxBodyBytes: 100 } })
      const connection = (body: string) =>
        Effect.promise(() =>
          fetch(server.url + Transcribe.path, { method: "POST", headers: auth, body }).then(async (response) => {
            await response.arrayBuffer()
            return [response.status, response.headers.get("connection")]
          })
        )
      expect(yield* connection("x".repeat(101))).toEqual([413, "close"])
      expect(yield* connection("x")).toEqual([400, "keep-alive"])
      expect(yield* connection("{}")).toEqual([422, "keep-alive"])
    }))

  it.scopedLive("a chunked body (no Content-Length) of exactly the limit is read whole; one byte more is a 413", () =>
    Effect.gen(function*() {
      const { layer } = yield* recordingHandlers
      const server = yield* startTaskServer(layer, { server: { maxBodyBytes: 100 } })
      const chunked = (text: string) =>
        Effect.promise(async () => {
          const bytes = new TextEncoder().encode(text)
          const body = new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(bytes.subarray(0, 50))
              controller.enqueue(bytes.subarray(50))
              controller.close()
            }
          })
          const init = { method: "POST", headers: auth, body, duplex: "half" } as RequestInit
          const response = await fetch(server.url + Transcribe.path, init)
          return [response.status, await response.json()]
        })
      // 100 bytes of JSON: read to its end, then checked against the Schema.
      const exact = JSON.stringify({ filename: "x".repeat(100 - 29), user_id: "1" })
      expect(exact.length).toBe(100)
      expect((yield* chunked(exact))[0]).toBe(200)
      expect(yield* chunked(exact + " ")).toEqual([413, {
        error: "payload_too_large",
        message: "The body is larger than 100 bytes"
      }])
    }))

  it.scopedLive("a handler's payload error is a 422 and its interruption a 503, each with a warning", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const issues = [{ path: "user_id", problem: "is missing" }]
      const server = yield* startTaskServer(TaskHandlers.layer({
        "/refused": () => new TaskPayloadError({ message: "bad user", path: "/refused", issues }),
        "/interrupted": () => Effect.interrupt
      }))
      expect(yield* answers(server, "/refused", "{}")).toEqual([422, { error: "invalid_payload", message: "bad user", issues }])
      expect(yield* answers(server, "/interrupted", "{}")).toEqual([
        503,
        { error: "interrupted", message: "The task was interrupted" }
      ])
      expect(events(logs, Events.serverFailed)).toEqual([
        ["WARN", "Task handler failed", 422, undefined],
        ["WARN", "Task handler failed", 503, undefined]
      ])
    }).pipe(Effect.provide(logLayer))
  })

  it.scopedLive("a path with a colon is served literally, not as a route parameter", () =>
    Effect.gen(function*() {
      const server = yield* startTaskServer(TaskHandlers.layer({ "/v1/tasks:run": () => Effect.void }))
      expect(yield* answers(server, "/v1/tasks:run", "{}")).toEqual([200, { status: "succeeded" }])
      expect((yield* answers(server, "/v1/tasks:walk", "{}"))[0]).toBe(404)
    }))

  it.scopedLive("no authentication configured: a warning at start and 401 for every request, unless the platform authenticates", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const handlers = TaskHandlers.layer({ "/ok": () => Effect.void })
      const refusing = yield* startTaskServer(handlers, { config: { appEnv: "production" } })
      expect(events(logs, Events.serverAuthMissing)).toEqual([[
        "WARN",
        "Neither TASKS_AUTH nor TASKS_OIDC_AUDIENCE is set: every task request is refused with 401 " +
        "(allowUnauthenticated lets the platform authenticate instead)",
        undefined,
        undefined
      ]])
      expect((yield* answers(refusing, "/ok", "{}"))[0]).toBe(401)
      expect(events(logs, Events.serverUnauthorized)).toEqual([
        ["WARN", "Refused a task request: no authentication is configured", 401, "not_configured"]
      ])
      const open = yield* startTaskServer(handlers, { config: { appEnv: "production" }, server: { allowUnauthenticated: true } })
      expect((yield* answers(open, "/ok", "{}", {}))[0]).toBe(200)
      expect(logs.of(Events.serverAuthMissing)).toHaveLength(1)
    }).pipe(Effect.provide(logLayer))
  })

  it.scopedLive("OIDC: why a token was refused, in words; keys that cannot be fetched are a 503, not a 401", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const handlers = TaskHandlers.layer({ "/ok": () => Effect.void })
      const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
      const token = (header: unknown) => ({ authorization: `Bearer ${part(header)}.${part({})}.c2ln` })
      // Nothing listens on port 1: the keys cannot be fetched.
      const server = yield* startTaskServer(handlers, {
        config: { appEnv: "test", oidcAudience: "aud", oidcJwksUrl: "http://127.0.0.1:1/certs" }
      })
      expect(yield* answers(server, "/ok", "{}", {})).toEqual([401, {
        error: "unauthorized",
        message: "The request is not authenticated"
      }])
      yield* answers(server, "/ok", "{}", { authorization: "Bearer a.b" })
      yield* answers(server, "/ok", "{}", token({ alg: "HS256", kid: "k" }))
      yield* answers(server, "/ok", "{}", token({ alg: "RS256" }))
      expect(yield* answers(server, "/ok", "{}", token({ alg: "RS256", kid: "k" }))).toEqual([503, {
        error: "unavailable",
        message: "The request cannot be authenticated now"
      }])
      expect(events(logs, Events.serverUnauthorized)).toEqual([
        ["WARN", "Refused a task request without an OIDC token", 401, "oidc_missing"],
        ["WARN", "Refused a task request with a malformed OIDC token", 401, "oidc_malformed"],
        ["WARN", "Refused a task request with an OIDC token not signed RS256", 401, "oidc_unsupported_algorithm"],
        ["WARN", "Refused a task request with an OIDC token signed by an unknown key", 401, "oidc_unknown_key"],
        ["WARN", "Refused a task request while the OIDC signing keys could not be fetched", 503, "oidc_keys_unavailable"]
      ])
      // With both configured, both must pass: the secret first, then the token.
      const both = yield* startTaskServer(handlers, {
        config: { appEnv: "test", auth: secret, oidcAudience: "aud", oidcJwksUrl: "http://127.0.0.1:1/certs" }
      })
      yield* answers(both, "/ok", "{}", { "x-tasks-auth": "wrong" })
      yield* answers(both, "/ok", "{}", auth)
      expect(events(logs, Events.serverUnauthorized).slice(-2).map(([, , status, reason]) => [status, reason])).toEqual([
        [401, "mismatch"],
        [401, "oidc_missing"]
      ])
      // In production, OIDC without an allow-list accepts any service account: said once at start.
      expect(logs.of(Events.serverAuthMissing)).toEqual([])
      yield* startTaskServer(handlers, { config: { appEnv: "production", oidcAudience: "aud", oidcServiceAccounts: "a@b.c" } })
      expect(logs.of(Events.serverAuthMissing)).toEqual([])
      yield* startTaskServer(handlers, { config: { appEnv: "production", oidcAudience: "aud" } })
      expect(events(logs, Events.serverAuthMissing)).toEqual([[
        "WARN",
        "TASKS_OIDC_SERVICE_ACCOUNTS is not set: an ID token of any Google service account for the audience is accepted",
        undefined,
        undefined
      ]])
    }).pipe(Effect.provide(logLayer))
  })
})
