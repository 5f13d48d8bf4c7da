/**
 * Queues as code: definitions checked as Cloud Tasks checks them, tasks created in their
 * queue, and ensureQueues making the emulator's queues match (never deleting any).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { execFile } from "node:child_process"
import { join } from "node:path"
import { promisify } from "node:util"
import { CloudTasksEmulator } from "../src/CloudTasksEmulator.js"
import {
  ConfigError,
  defineQueue,
  defineTask,
  enqueueHttpTask,
  enqueueTask,
  ensureQueues,
  Events,
  TasksClient,
  TasksConfig,
  type TasksConfigInput
} from "../src/index.js"
import { makeClient } from "./utils/emulatorClient.js"
import { recordingServer } from "./utils/httpServer.js"
import { captureLogs } from "./utils/logs.js"

const location = "projects/p/locations/l"
const production = (emulatorHost: string, urlBase = "http://127.0.0.1:9"): TasksConfigInput => ({
  appEnv: "production",
  project: "p",
  location: "l",
  queue: "default",
  urlBase,
  auth: "s3cret",
  emulatorHost
})

const emulator = (queues: ReadonlyArray<string> = []) =>
  Effect.acquireRelease(
    Effect.promise(() => CloudTasksEmulator.start({ queues })),
    (running) => Effect.promise(() => running.stop())
  )

const Transcription = defineQueue("transcription", { maxAttempts: 5, minBackoff: "10 seconds", maxConcurrentDispatches: 4 })
const Email = defineQueue("email")

describe("defineQueue", () => {
  const invalid: ReadonlyArray<[string, ReturnType<typeof defineQueue>, string]> = [
    ["an ID with an underscore", defineQueue("bad_id"), "the ID must be 1 to 100 letters, digits or hyphens"],
    ["a rate over 500", defineQueue("q", { maxDispatchesPerSecond: 501 }), "maxDispatchesPerSecond must be more than 0 and at most 500, got 501"],
    ["a rate of 0", defineQueue("q", { maxDispatchesPerSecond: 0 }), "maxDispatchesPerSecond must be more than 0"],
    ["concurrency over 5000", defineQueue("q", { maxConcurrentDispatches: 5001 }), "maxConcurrentDispatches must be a whole number from 1 to 5000, got 5001"],
    ["0 attempts", defineQueue("q", { maxAttempts: 0 }), "maxAttempts must be a whole number of at least 1, or -1 for no limit, got 0"],
    ["negative doublings", defineQueue("q", { maxDoublings: -1 }), "maxDoublings must be a whole number of at least 0, got -1"],
    ["min over max backoff", defineQueue("q", { minBackoff: "2 minutes", maxBackoff: "1 minute" }), "minBackoff must not be longer than maxBackoff"],
    ["min over the default max", defineQueue("q", { minBackoff: "2 hours" }), "minBackoff must not be longer than maxBackoff"],
    ["an infinite duration", defineQueue("q", { maxRetryDuration: "Infinity" as never }), "maxRetryDuration must be a finite duration"]
  ]
  for (const [what, queue, problem] of invalid) {
    it.effect(`an enqueue to a queue with ${what} is refused, naming the queue and the setting`, () =>
      Effect.gen(function*() {
        const error = yield* enqueueHttpTask("/api/tasks/a", {}, { queue }).pipe(
          Effect.flip,
          Effect.provide(TasksClient.layerWith({ dryRun: true }))
        )
        expect(error).toMatchObject({ _tag: "DispatchError", reason: "invalid_options" })
        expect(error.message).toContain(`Queue ${JSON.stringify(queue.id)}: `)
        expect(error.message).toContain(problem)
      }))
  }
})

describe("a task's queue", () => {
  it.scopedLive("the cloud route creates the task in the queue of its definition, the option's, or TASKS_QUEUE", () =>
    Effect.gen(function*() {
      const running = yield* emulator([`${location}/queues/default`, `${location}/queues/transcription`, `${location}/queues/email`])
      const server = yield* recordingServer()
      const Transcribe = defineTask("/api/tasks/transcribe", Schema.Struct({ f: Schema.String }), { queue: Transcription })
      const names = yield* Effect.all([
        enqueueTask(Transcribe, { f: "a" }),
        enqueueTask(Transcribe, { f: "a" }, { queue: Email }),
        enqueueHttpTask("/api/tasks/other", {}, { queue: "email" }),
        enqueueHttpTask("/api/tasks/other", {})
      ]).pipe(Effect.provide(TasksClient.layerWith(production(running.host, server.url))))
      expect(names.map(({ name }) => name.split("/tasks/")[0])).toEqual([
        `${location}/queues/transcription`,
        `${location}/queues/email`,
        `${location}/queues/email`,
        `${location}/queues/default`
      ])
      yield* server.received(4)
      expect(server.requests.map((request) => request.headers["x-cloudtasks-queuename"]).sort()).toEqual([
        "default",
        "email",
        "email",
        "transcription"
      ])
    }))
})

describe("ensureQueues", () => {
  it.scopedLive("creates missing queues, updates differing settings, reports a dry run, and never deletes", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const running = yield* emulator([`${location}/queues/unrelated`])
      const client = makeClient(running.host)
      yield* Effect.addFinalizer(() => Effect.promise(() => client.close()))
      const sync = (queues: ReadonlyArray<ReturnType<typeof defineQueue>>, dryRun = false) =>
        ensureQueues(queues, { dryRun }).pipe(Effect.provide(TasksConfig.layerWith(production(running.host))))

      const planned = yield* sync([Transcription, Email], true)
      expect(planned.map(({ action, applied, queue }) => [queue, action, applied])).toEqual([
        [`${location}/queues/transcription`, "create", false],
        [`${location}/queues/email`, "create", false]
      ])
      const [listed] = yield* Effect.promise(() => client.listQueues({ parent: location }))
      expect(listed.map((queue) => queue.name)).toEqual([`${location}/queues/unrelated`])

      expect(logs.of(Events.queueCreated)).toEqual([])
      const created = yield* sync([Transcription, Email])
      expect(created.map(({ action }) => action)).toEqual(["create", "create"])
      expect(logs.of(Events.queueCreated).map((entry) => entry.annotations.queue)).toEqual([
        `${location}/queues/transcription`,
        `${location}/queues/email`
      ])
      const [queue] = yield* Effect.promise(() => client.getQueue({ name: `${location}/queues/transcription` }))
      expect(queue.retryConfig?.maxAttempts).toBe(5)
      expect(Number(queue.retryConfig?.minBackoff?.seconds)).toBe(10)
      expect(queue.rateLimits?.maxConcurrentDispatches).toBe(4)

      expect((yield* sync([Transcription, Email])).map(({ action }) => action)).toEqual(["unchanged", "unchanged"])

      // Changed in the console: the definition wins, setting by setting.
      yield* Effect.promise(() =>
        client.updateQueue({
          queue: { name: `${location}/queues/email`, retryConfig: { maxAttempts: 9 } },
          updateMask: { paths: ["retry_config.max_attempts"] }
        })
      )
      const Faster = defineQueue("transcription", { maxAttempts: 7, minBackoff: "10 seconds", maxConcurrentDispatches: 4 })
      const updated = yield* sync([Faster, Email])
      expect(updated.map(({ action, changes }) => [action, changes])).toEqual([
        ["update", [{ setting: "maxAttempts", from: 5, to: 7 }]],
        ["update", [{ setting: "maxAttempts", from: 9, to: 100 }]]
      ])
      expect(logs.of(Events.queueUpdated).map((entry) => entry.annotations.changes)).toEqual([
        "maxAttempts:5->7",
        "maxAttempts:9->100"
      ])
      const [after] = yield* Effect.promise(() => client.listQueues({ parent: location }))
      expect(after.map((queue) => queue.name).sort()).toEqual([
        `${location}/queues/email`,
        `${location}/queues/transcription`,
        `${location}/queues/unrelated`
      ])
    }).pipe(Effect.provide(logLayer))
  })

  it.effect("an invalid definition or a missing location is a ConfigError, and nothing is called", () =>
    Effect.gen(function*() {
      const invalid = yield* Effect.flip(
        ensureQueues([defineQueue("q", { maxAttempts: 0 })]).pipe(
          Effect.provide(TasksConfig.layerWith({ project: "p", location: "l", emulatorHost: "127.0.0.1:1" }))
        )
      )
      expect(invalid).toBeInstanceOf(ConfigError)
      expect(invalid.message).toContain(`Queue "q": maxAttempts must be`)
      const nowhere = yield* Effect.flip(ensureQueues([Email]).pipe(Effect.provide(Layer.fresh(TasksConfig.layerWith({})))))
      expect(nowhere).toMatchObject({ _tag: "ConfigError", variables: ["GOOGLE_CLOUD_PROJECT", "TASKS_LOCATION"] })
    }))
})

describe("effect-http-tasks queues sync", () => {
  const root = join(import.meta.dirname, "..")
  const run = (args: ReadonlyArray<string>, env: Record<string, string>) =>
    Effect.promise(() =>
      promisify(execFile)(process.execPath, ["--import", "tsx", "src/bin.ts", "queues", "sync", ...args], {
        cwd: root,
        env: { PATH: process.env.PATH ?? "", ...env }
      }).then(
        ({ stderr, stdout }) => ({ code: 0, stdout, stderr }),
        (error: { code: number; stdout: string; stderr: string }) => error
      )
    )

  it.scopedLive("prints what it would do in a dry run, then does it; a missing --from is a usage error", () =>
    Effect.gen(function*() {
      const running = yield* emulator()
      const env = { GOOGLE_CLOUD_PROJECT: "p", TASKS_LOCATION: "l", CLOUD_TASKS_EMULATOR_HOST: running.host }
      const dry = yield* run(["--from", "test/fixtures/queues.ts", "--dry-run"], env)
      expect(dry.code).toBe(0)
      expect(dry.stdout).toBe(
        `create    ${location}/queues/email\ncreate    ${location}/queues/transcription\ndry run: nothing was changed\n`
      )
      const applied = yield* run(["--from", "test/fixtures/queues.ts"], env)
      expect(applied.stdout).toBe(`create    ${location}/queues/email\ncreate    ${location}/queues/transcription\n`)
      const again = yield* run(["--from", "test/fixtures/queues.ts"], env)
      expect(again.stdout).toBe(`unchanged ${location}/queues/email\nunchanged ${location}/queues/transcription\n`)
      const client = makeClient(running.host)
      const [email] = yield* Effect.promise(() => client.getQueue({ name: `${location}/queues/email` }))
      yield* Effect.promise(() => client.close())
      expect(email.rateLimits?.maxDispatchesPerSecond).toBe(20)

      const usage = yield* run([], env)
      expect(usage.code).toBe(2)
      expect(usage.stderr).toContain("queues sync needs --from MODULE")
      const noLocation = yield* run(["--from", "test/fixtures/queues.ts"], {})
      expect(noLocation.code).toBe(1)
      expect(noLocation.stderr).toContain("GOOGLE_CLOUD_PROJECT and TASKS_LOCATION are required")
    }))
})
