/**
 * The production path for real: enqueueHttpTask → the official @google-cloud/tasks
 * client → plaintext gRPC → the project's Cloud Tasks emulator → an HTTP server
 * on 127.0.0.1.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { CloudTasksEmulator } from "../src/CloudTasksEmulator.js"
import {
  cancelTask,
  CloudTasksRoute,
  enqueueHttpTask,
  Events,
  TaskHandlers,
  TasksClient,
  TasksConfig,
  type TasksConfigInput
} from "../src/index.js"
import { makeClient } from "./utils/emulatorClient.js"
import { closedPortUrl, type RecordingServer, recordingServer } from "./utils/httpServer.js"
import { captureLogs, isSubsequence } from "./utils/logs.js"
import { ancestors, recordingTracer } from "./utils/server.js"

const queue = "projects/demo/locations/us-central1/queues/default"

const production = (host: string, server: RecordingServer, extra: TasksConfigInput = {}): TasksConfigInput => ({
  appEnv: "production",
  project: "demo",
  location: "us-central1",
  queue: "default",
  urlBase: server.url,
  auth: "prod-secret",
  emulatorHost: host,
  ...extra
})

const client = (config: TasksConfigInput) => TasksClient.layerWith(config).pipe(Layer.provide(TaskHandlers.layer({})))

const emulator = Effect.acquireRelease(
  Effect.promise(() => CloudTasksEmulator.start({ queues: [queue], queueSettings: { minBackoff: "10 millis" } })),
  (running) => Effect.promise(() => running.stop())
)

describe("CloudTasksRoute through the emulator", () => {
  it.scopedLive("creates a task that POSTs the JSON payload to TASKS_URL_BASE + path with the secret", () =>
    Effect.gen(function*() {
      const { layer, logs } = captureLogs()
      const running = yield* emulator
      const server = yield* recordingServer()
      const info = yield* enqueueHttpTask("/api/tasks/transcribe", { filename: "gs://b/a.wav", user_id: "123" }).pipe(
        Effect.provide(client(production(running.host, server))),
        Effect.provide(layer)
      )
      expect(info.route).toBe("cloud-tasks")
      expect(info.name).toMatch(new RegExp(`^${queue}/tasks/[A-Za-z0-9_-]+$`))
      yield* Effect.promise(() => running.waitForTask(info.name))

      expect(server.requests).toHaveLength(1)
      const [request] = server.requests
      expect(request?.method).toBe("POST")
      expect(request?.path).toBe("/api/tasks/transcribe")
      expect(JSON.parse(request!.body)).toEqual({ filename: "gs://b/a.wav", user_id: "123" })
      expect(request?.headers["content-type"]).toBe("application/json")
      expect(request?.headers["x-tasks-auth"]).toBe("prod-secret")
      expect(request?.headers["user-agent"]).toBe("Google-Cloud-Tasks")
      expect(request?.headers["x-cloudtasks-taskname"]).toBe(info.name.split("/").pop())
      // The enqueue is a span even outside any span of the caller's: the task continues its trace.
      expect(request?.headers["traceparent"]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)

      expect(
        isSubsequence([
          Events.start,
          Events.cloudEnabled,
          Events.usingCloudTasks,
          Events.usingTasksUrl,
          Events.tasksAuthSet,
          Events.creatingTask,
          Events.cloudEnqueued
        ], logs.events())
      ).toBe(true)
      expect(logs.of(Events.cloudEnqueued)[0]?.annotations.name).toBe(info.name)
      expect(logs.entries.map((entry) => entry.line).join("\n")).not.toContain("prod-secret")
    }))

  it.scopedLive("sets the 30-minute deadline for the transcription paths and sends worker paths to WORKER_URL_BASE", () =>
    Effect.gen(function*() {
      const { layer, logs } = captureLogs()
      const running = yield* emulator
      const tasksServer = yield* recordingServer()
      const workerServer = yield* recordingServer()
      const info = yield* enqueueHttpTask("/api/tasks/assemble", { episode_id: "e1" }).pipe(
        Effect.provide(client(production(running.host, tasksServer, { workerUrlBase: workerServer.url }))),
        Effect.provide(layer)
      )
      yield* Effect.promise(() => running.waitForTask(info.name))
      expect(workerServer.requests.map((r) => r.path)).toEqual(["/api/tasks/assemble"])
      expect(tasksServer.requests).toEqual([])
      expect(logs.events()).toContain(Events.usingWorkerUrl)

      const official = makeClient(running.host)
      yield* Effect.addFinalizer(() => Effect.promise(() => official.close()))
      const other = yield* enqueueHttpTask("/api/other", {}, { delay: "1 hour" }).pipe(
        Effect.provide(client(production(running.host, tasksServer)))
      )
      const [stored] = yield* Effect.promise(() => official.getTask({ name: other.name, responseView: "FULL" }))
      // no per-path deadline: the service default (10 minutes) applies
      expect(Number(stored.dispatchDeadline?.seconds ?? 600)).toBe(600)
      const long = yield* enqueueHttpTask("/api/tasks/process-chunk", { chunk_id: "c" }, { delay: "1 hour" }).pipe(
        Effect.provide(client(production(running.host, tasksServer)))
      )
      const [longTask] = yield* Effect.promise(() => official.getTask({ name: long.name, responseView: "FULL" }))
      expect(Number(longTask.dispatchDeadline?.seconds)).toBe(1800)
      expect(longTask.httpRequest?.url).toBe(tasksServer.url + "/api/tasks/process-chunk")
    }))

  it.scopedLive("a taskId dedups: the second enqueue is a DispatchError already_exists with the gRPC status", () =>
    Effect.gen(function*() {
      const { layer, logs } = captureLogs()
      const running = yield* emulator
      const server = yield* recordingServer()
      const enqueue = enqueueHttpTask("/api/tasks/transcribe", { n: 1 }, { taskId: "upload-42" }).pipe(
        Effect.provide(client(production(running.host, server))),
        Effect.provide(layer)
      )
      const first = yield* enqueue
      expect(first.name).toBe(`${queue}/tasks/upload-42`)
      const error = yield* Effect.flip(enqueue)
      expect(error).toMatchObject({
        _tag: "DispatchError",
        reason: "already_exists",
        grpcStatus: 6,
        route: "cloud-tasks"
      })
      expect(logs.events()).toContain(Events.createTaskFailed)
      yield* Effect.promise(() => running.waitForTask(first.name))
      expect(server.requests).toHaveLength(1)
    }))

  it.scopedLive("the task carries the enqueuing trace as traceparent, across the queue", () =>
    Effect.gen(function*() {
      const running = yield* emulator
      const server = yield* recordingServer()
      const { info, traceId } = yield* Effect.gen(function*() {
        const span = yield* Effect.currentSpan
        const info = yield* enqueueHttpTask("/t", {})
        return { info, traceId: span.traceId }
      }).pipe(Effect.withSpan("request handler"), Effect.provide(client(production(running.host, server))))
      yield* Effect.promise(() => running.waitForTask(info.name))
      const [, trace, parent] = String(server.requests[0]?.headers["traceparent"]).split("-")
      expect(trace).toBe(traceId)
      expect(parent).toMatch(/^[0-9a-f]{16}$/)
    }))

  it.scopedLive("with a tracer installed, the enqueue is a span and the task's trace parent", () =>
    Effect.gen(function*() {
      const running = yield* emulator
      const server = yield* recordingServer()
      const { spans, tracer } = recordingTracer()
      const info = yield* enqueueHttpTask("/t", {}).pipe(
        Effect.withSpan("request handler"),
        Effect.provide(client(production(running.host, server))),
        Effect.withTracer(tracer)
      )
      yield* Effect.promise(() => running.waitForTask(info.name))
      const enqueue = spans.find((span) => span.name === "TasksClient.enqueueHttpTask")!
      expect(Object.fromEntries(enqueue.attributes)).toEqual({ "tasks.path": "/t", "tasks.route": "cloud-tasks" })
      expect(ancestors(spans, enqueue)).toEqual(["request handler"])
      expect(server.requests[0]?.headers["traceparent"]).toBe(`00-${enqueue.traceId}-${enqueue.spanId}-01`)
    }))

  it.scopedLive("schedules with delay (the ETA header says when) and adds extra headers", () =>
    Effect.gen(function*() {
      const running = yield* emulator
      const server = yield* recordingServer()
      const before = Date.now()
      const info = yield* enqueueHttpTask("/t", {}, { delay: "1 second", headers: { "X-Job": "7" } }).pipe(
        Effect.provide(client(production(running.host, server)))
      )
      yield* Effect.promise(() => running.waitForTask(info.name))
      const eta = Number(server.requests[0]?.headers["x-cloudtasks-tasketa"]) * 1000
      expect(eta).toBeGreaterThanOrEqual(before + 900)
      expect(server.requests[0]?.headers["x-job"]).toBe("7")
    }))

  it.scopedLive("with TASKS_SERVICE_ACCOUNT_EMAIL each delivery carries an OIDC token for the URL", () =>
    Effect.gen(function*() {
      const running = yield* emulator
      const server = yield* recordingServer()
      const info = yield* enqueueHttpTask("/api/tasks/transcribe", {}).pipe(
        Effect.provide(client(production(running.host, server, {
          auth: undefined,
          serviceAccountEmail: "tasks@demo.iam.gserviceaccount.com"
        })))
      )
      yield* Effect.promise(() => running.waitForTask(info.name))
      const token = String(server.requests[0]?.headers.authorization).replace(/^Bearer /, "")
      const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString())
      expect(claims).toMatchObject({
        email: "tasks@demo.iam.gserviceaccount.com",
        aud: server.url + "/api/tasks/transcribe"
      })
      expect(server.requests[0]?.headers["x-tasks-auth"]).toBeUndefined()
    }))

  it.scopedLive("a task over the 1 MB limit fails before the API call", () =>
    Effect.gen(function*() {
      const { layer, logs } = captureLogs()
      const running = yield* emulator
      const server = yield* recordingServer()
      // The JSON body fits the body limit; the task around it (URL, headers, name) does not.
      const error = yield* enqueueHttpTask("/t", "x".repeat(1_048_560)).pipe(
        Effect.provide(client(production(running.host, server))),
        Effect.provide(layer),
        Effect.flip
      )
      expect(error).toMatchObject({ reason: "payload_too_large", route: "cloud-tasks" })
      expect(logs.events()).toContain(Events.taskBuildFailed)
      expect(logs.events()).not.toContain(Events.creatingTask)
      const official = makeClient(running.host)
      const [tasks] = yield* Effect.promise(() => official.listTasks({ parent: queue }))
      yield* Effect.promise(() => official.close())
      expect(tasks).toEqual([])
    }))

  it.scopedLive("the size check counts the secret header: an oversize task never reaches the API", () =>
    Effect.gen(function*() {
      const { layer, logs } = captureLogs()
      const running = yield* emulator
      const server = yield* recordingServer()
      // Without the 3,000-character secret this task would fit; with it, it does not.
      const error = yield* enqueueHttpTask("/t", "x".repeat(1_046_000)).pipe(
        Effect.provide(client(production(running.host, server, { auth: "s".repeat(3_000) }))),
        Effect.provide(layer),
        Effect.flip
      )
      expect(error).toMatchObject({ reason: "payload_too_large", route: "cloud-tasks" })
      expect(logs.events()).not.toContain(Events.creatingTask)
      const fits = yield* enqueueHttpTask("/t", "x".repeat(1_046_000)).pipe(
        Effect.provide(client(production(running.host, server)))
      )
      expect(fits.route).toBe("cloud-tasks")
    }))

  it.scopedLive("retries UNAVAILABLE only for named tasks, then reports the gRPC status", () =>
    Effect.gen(function*() {
      const { layer, logs } = captureLogs()
      const server = yield* recordingServer()
      const down = (yield* closedPortUrl).replace("http://", "")
      const route = CloudTasksRoute.layerWith({ transientRetries: 2 })
      const layerFor = TasksClient.layerWithoutRoutes.pipe(
        Layer.provide(route),
        Layer.provide(TasksClient.routes),
        Layer.provide(TasksConfig.layerWith(production(down, server))),
        Layer.provide(TaskHandlers.layer({}))
      )
      const named = yield* enqueueHttpTask("/t", {}, { taskId: "retry-me" }).pipe(
        Effect.provide(layerFor),
        Effect.provide(layer),
        Effect.flip
      )
      expect(named).toMatchObject({ reason: "unreachable", grpcStatus: 14 })
      expect(logs.of(Events.cloudRetrying)).toHaveLength(2)
      const unnamed = yield* enqueueHttpTask("/t", {}).pipe(Effect.provide(layerFor), Effect.provide(layer), Effect.flip)
      expect(unnamed).toMatchObject({ reason: "unreachable", grpcStatus: 14 })
      expect(logs.of(Events.cloudRetrying)).toHaveLength(2)
    }))

  it.scopedLive("an absent @google-cloud/tasks is an ImportError that says how to install it", () =>
    Effect.gen(function*() {
      const { layer, logs } = captureLogs()
      const server = yield* recordingServer()
      const error = yield* enqueueHttpTask("/t", {}).pipe(
        Effect.provide(
          TasksClient.layerWithoutRoutes.pipe(
            Layer.provide(CloudTasksRoute.layerWith({ moduleName: "@google-cloud/tasks-not-installed" })),
            Layer.provide(TasksClient.routes),
            Layer.provide(TasksConfig.layerWith(production("127.0.0.1:1", server))),
            Layer.provide(TaskHandlers.layer({}))
          )
        ),
        Effect.provide(layer),
        Effect.flip
      )
      expect(error._tag).toBe("ImportError")
      expect(error.message).toContain("npm install @google-cloud/tasks-not-installed")
      expect(logs.events()).toContain(Events.cloudTasksUnavailable)
      expect(server.requests).toEqual([])
    }))
})

describe("cancelTask", () => {
  it.scopedLive("in production deletes the Cloud Task: it never runs, and a second cancel is not_found", () =>
    Effect.gen(function*() {
      const { layer, logs } = captureLogs()
      const running = yield* emulator
      const server = yield* recordingServer()
      const tasks = makeClient(running.host)
      yield* Effect.addFinalizer(() => Effect.promise(() => tasks.close()))
      yield* Effect.gen(function*() {
        const info = yield* enqueueHttpTask("/api/tasks/reminder", { user: "u-1" }, { delay: "1 hour" })
        const [stored] = yield* Effect.promise(() => tasks.getTask({ name: info.name }))
        expect(stored.name).toBe(info.name)

        yield* cancelTask(info.name)
        expect(logs.of(Events.cloudCancelled).map((entry) => entry.annotations.name)).toEqual([info.name])
        const gone = yield* Effect.flip(Effect.tryPromise(() => tasks.getTask({ name: info.name })))
        expect(String(gone.error)).toMatch(/NOT_FOUND|not found/i)

        const again = yield* Effect.flip(cancelTask(info.name))
        expect(again).toMatchObject({ _tag: "CancelError", reason: "not_found", name: info.name, grpcStatus: 5 })
        expect(again.message).toContain(`No task ${info.name} is waiting in Cloud Tasks`)
      }).pipe(Effect.provide(client(production(running.host, server))), Effect.provide(layer))
      expect(server.requests).toEqual([])
    }))

  it.scoped("a task already sent (worker, loopback) or never queued (dry run) is not_cancellable, by name", () =>
    Effect.gen(function*() {
      const server = yield* recordingServer(() => ({ status: 202 }))
      const refusal = (name: string) => Effect.flip(cancelTask(name))
      const loopback = yield* enqueueHttpTask("/api/tasks/other", {}).pipe(
        Effect.flatMap((info) => refusal(info.name)),
        Effect.provide(client({ appEnv: "dev", forceHttpLoopback: true, urlBase: server.url }))
      )
      expect(loopback).toMatchObject({ reason: "not_cancellable" })
      expect(loopback.message).toMatch(/^local-loopback-\S+ cannot be cancelled: /)
      const dryRun = yield* enqueueHttpTask("/api/tasks/other", {}).pipe(
        Effect.flatMap((info) => refusal(info.name)),
        Effect.provide(client({ dryRun: true }))
      )
      expect(dryRun).toMatchObject({ reason: "not_cancellable" })
      // A Cloud Task's name, given to a client that sends nothing to Cloud Tasks
      const elsewhere = yield* refusal(`${queue}/tasks/abc`).pipe(Effect.provide(client({ appEnv: "dev" })))
      expect(elsewhere.message).toContain("this configuration sends no task to Cloud Tasks")
      expect(server.requests).toHaveLength(1)
    }))
})
