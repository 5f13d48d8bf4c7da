import { describe, expect, expectTypeOf, it, layer } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, Option, Queue, Schema } from "effect"
import {
  type ConfigError,
  decodeTaskPayload,
  defineQueue,
  defineTask,
  DispatchError,
  drain,
  enqueueHttpTask,
  enqueueTask,
  Events,
  handleTask,
  type ImportError,
  type TaskDefinition,
  TaskHandlers,
  type TaskInfo,
  TaskPayloadError,
  TasksClient,
  TasksConfig,
  type TasksConfigInput,
  taskHandlersLayer
} from "../src/index.js"
import { captureLogs } from "./utils/logs.js"
import { type Dispatched, recordingRoutes } from "./utils/routes.js"
import { secret, startTaskServer } from "./utils/server.js"

const Transcribe = defineTask(
  "/api/tasks/transcribe",
  Schema.Struct({ filename: Schema.String, user_id: Schema.String })
)
const Publish = defineTask(
  "/api/tasks/publish",
  Schema.Struct({ episode_id: Schema.String, at: Schema.Date }),
  { dispatchDeadline: "20 minutes" }
)

/** A client whose routes only record what reaches them, with the configuration in context. */
const recordingClient = (dispatched: Array<Dispatched>, config: TasksConfigInput = { appEnv: "test" }) =>
  TasksClient.layerWithoutRoutes.pipe(
    Layer.provide(recordingRoutes(dispatched)),
    Layer.provide(TasksConfig.layerWith(config))
  )

describe("enqueueTask: typed at compile time", () => {
  it("takes a payload of the definition's type, and nothing else", () => {
    expectTypeOf(Transcribe).toEqualTypeOf<
      TaskDefinition<
        { readonly filename: string; readonly user_id: string },
        { readonly filename: string; readonly user_id: string }
      >
    >()
    expectTypeOf(enqueueTask(Transcribe, { filename: "a.wav", user_id: "1" })).toEqualTypeOf<
      Effect.Effect<TaskInfo, ImportError | ConfigError | DispatchError, TasksClient>
    >()
    // The payload is the decoded type: a Date, encoded to a string on the wire.
    expectTypeOf(enqueueTask(Publish, { episode_id: "e", at: new Date() })).toEqualTypeOf<
      Effect.Effect<TaskInfo, ImportError | ConfigError | DispatchError, TasksClient>
    >()
    // Never run: tsc checks that each of these is a type error.
    const typeErrors = () => [
      // @ts-expect-error user_id is missing
      enqueueTask(Transcribe, { filename: "a.wav" }),
      // @ts-expect-error user_id must be a string
      enqueueTask(Transcribe, { filename: "a.wav", user_id: 123 }),
      // @ts-expect-error `at` takes a Date, not its encoded form
      enqueueTask(Publish, { episode_id: "e", at: "2026-01-01T00:00:00.000Z" })
    ]
    expectTypeOf(typeErrors).returns.items.toMatchTypeOf<Effect.Effect<TaskInfo, unknown, TasksClient>>()
  })

  it("hands each handler the decoded payload type, and collects what the handlers need", () => {
    class Storage extends Context.Tag("test/Storage")<Storage, { readonly save: (id: string) => Effect.Effect<void> }>() {}
    const handlers = taskHandlersLayer(
      handleTask(Transcribe, (payload) => {
        expectTypeOf(payload).toEqualTypeOf<{ readonly filename: string; readonly user_id: string }>()
        return Effect.void
      }),
      handleTask(Publish, (payload) => {
        expectTypeOf(payload.at).toEqualTypeOf<Date>()
        return Effect.flatMap(Storage, (storage) => storage.save(payload.episode_id))
      })
    )
    expectTypeOf(handlers).toEqualTypeOf<Layer.Layer<TaskHandlers, never, Storage>>()
  })
})

describe("enqueueTask: at run time", () => {
  it.effect("encodes the payload with the Schema and sends the definition's deadline", () => {
    const dispatched: Array<Dispatched> = []
    return Effect.gen(function*() {
      const at = new Date("2026-03-04T05:06:07.000Z")
      const info = yield* enqueueTask(Publish, { episode_id: "e1", at })
      expect(info).toEqual({ name: "fake-local", route: "local" })
      const request = dispatched[0]!.request
      expect(JSON.parse(request.body)).toEqual({ episode_id: "e1", at: "2026-03-04T05:06:07.000Z" })
      expect(request.path).toBe(Publish.path)
      expect(request.dispatchDeadline).toEqual(Option.some(Duration.minutes(20)))
    }).pipe(Effect.provide(recordingClient(dispatched)))
  })

  it.effect("the caller's dispatchDeadline wins over the definition's", () => {
    const dispatched: Array<Dispatched> = []
    return Effect.gen(function*() {
      yield* enqueueTask(Publish, { episode_id: "e1", at: new Date(0) }, { dispatchDeadline: "5 minutes" })
      expect(dispatched[0]!.request.dispatchDeadline).toEqual(Option.some(Duration.minutes(5)))
    }).pipe(Effect.provide(recordingClient(dispatched)))
  })

  it.effect("a payload that fails the Schema at run time is a DispatchError, and nothing is sent", () => {
    const dispatched: Array<Dispatched> = []
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const untyped: unknown = { filename: "a.wav", user_id: 42 }
      const error = yield* Effect.flip(enqueueTask(Transcribe, untyped as { filename: string; user_id: string }))
      expect(error).toBeInstanceOf(DispatchError)
      expect(error).toMatchObject({ reason: "invalid_payload", path: Transcribe.path, route: "local" })
      expect(error.message).toContain("user_id must be string")
      expect(dispatched).toEqual([])
      expect(logs.events()).toEqual([Events.start, Events.invalidRequest])
      expect(logs.of(Events.invalidRequest)[0]?.annotations).toMatchObject({ reason: "invalid_payload" })
    }).pipe(Effect.provide(recordingClient(dispatched)), Effect.provide(logLayer))
  })

  it.effect("the refusal names the route configuration would have chosen", () => {
    const dispatched: Array<Dispatched> = []
    return Effect.gen(function*() {
      const untyped: unknown = { filename: 1 }
      const error = yield* Effect.flip(enqueueTask(Transcribe, untyped as { filename: string; user_id: string }))
      expect(error).toMatchObject({ reason: "invalid_payload", route: "dry-run" })
      expect(dispatched).toEqual([])
    }).pipe(Effect.provide(recordingClient(dispatched, { dryRun: true })))
  })
})

describe("taskHandlersLayer", () => {
  const client = (handlers: Layer.Layer<TaskHandlers>) =>
    TasksClient.layerWith({ appEnv: "test" }).pipe(Layer.provide(handlers))

  it.live("the local route runs the typed handler with the decoded payload", () => {
    const received: Array<{ readonly episode_id: string; readonly at: Date }> = []
    const handlers = taskHandlersLayer(handleTask(Publish, (payload) => Effect.sync(() => received.push(payload))))
    return Effect.gen(function*() {
      const at = new Date("2026-03-04T05:06:07.000Z")
      expect(yield* enqueueTask(Publish, { episode_id: "e1", at })).toMatchObject({
        name: expect.stringMatching(/^local-direct-dispatch\/default\/\d{20}$/),
        route: "local"
      })
      yield* drain
      expect(received).toEqual([{ episode_id: "e1", at }])
      expect(received[0]?.at).toBeInstanceOf(Date)
    }).pipe(Effect.provide(client(handlers)))
  })

  it.live("an untyped enqueue that fails the Schema never reaches the typed handler", () => {
    const { layer: logLayer, logs } = captureLogs()
    let ran = false
    const handlers = taskHandlersLayer(handleTask(Publish, () => Effect.sync(() => (ran = true))))
    return Effect.gen(function*() {
      // Answered 422 as the task server would: retried as Cloud Tasks retries a 4xx, here once.
      yield* enqueueHttpTask(Publish.path, { episode_id: "e1", at: "not a date" }, {
        queue: defineQueue("twice", { maxAttempts: 2, minBackoff: "1 milli", maxBackoff: "1 milli" })
      })
      yield* drain
      expect(ran).toBe(false)
      const failed = logs.of(Events.taskFailed)
      expect(failed.map((entry) => entry.annotations.status)).toEqual([422, 422])
      expect(failed[0]?.cause).toContain("TaskPayloadError")
      expect(failed[0]?.cause).toContain("at must be Date")
      expect(logs.of(Events.taskExhausted)).toHaveLength(1)
    }).pipe(Effect.provide(client(handlers)), Effect.provide(logLayer))
  })

  it.effect("two handlers for one path are a defect when the layer is built", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Layer.build(taskHandlersLayer(handleTask(Transcribe, () => Effect.void), handleTask(Transcribe, () => Effect.void)))
          .pipe(Effect.scoped)
      )
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("Two handlers are registered for the task path /api/tasks/transcribe")
    }))

  it.effect("decodeTaskPayload names each offending field, not its value", () =>
    Effect.gen(function*() {
      const Batch = defineTask(
        "/api/tasks/batch",
        Schema.Struct({ items: Schema.Array(Schema.Struct({ n: Schema.Int })), "odd key": Schema.Boolean })
      )
      const error = yield* Effect.flip(decodeTaskPayload(Batch, { items: [{ n: 1 }, { n: 1.5 }, {}] }))
      expect(error).toBeInstanceOf(TaskPayloadError)
      expect(error.issues).toEqual([
        { path: "items[1].n", problem: "must be Int" },
        { path: "items[2].n", problem: "is missing" },
        { path: "[\"odd key\"]", problem: "is missing" }
      ])
      expect(error.message).not.toContain("1.5")
    }))
})

// Every payload of this Schema, enqueued by type, reaches the handler behind the HTTP
// task server exactly as it was: encoded by the Schema, sent as JSON by the worker route,
// checked and decoded by the router.
const Roundtrip = defineTask(
  "/api/tasks/roundtrip",
  Schema.Struct({
    id: Schema.String,
    count: Schema.Int,
    kind: Schema.Literal("audio", "video"),
    due: Schema.Date,
    tags: Schema.Array(Schema.String),
    note: Schema.optional(Schema.NullOr(Schema.String)),
    nested: Schema.Struct({ flag: Schema.Boolean, parts: Schema.Array(Schema.Struct({ n: Schema.Int })) })
  })
)

class Received extends Context.Tag("test/Received")<Received, Queue.Queue<typeof Roundtrip.schema.Type>>() {}

const RoundtripLive = Layer.unwrapScoped(
  Effect.gen(function*() {
    const received = yield* Queue.unbounded<typeof Roundtrip.schema.Type>()
    const handlers = taskHandlersLayer(handleTask(Roundtrip, (payload) => Queue.offer(received, payload)))
    const server = yield* startTaskServer(handlers)
    return Layer.merge(
      Layer.succeed(Received, received),
      TasksClient.layerWith({
        appEnv: "test",
        auth: secret,
        useWorkerInDev: true,
        workerUrlBase: server.url,
        workerPaths: [Roundtrip.path]
      }).pipe(Layer.provide(handlers))
    )
  })
).pipe(Layer.orDie)

layer(RoundtripLive, { excludeTestServices: true })("payload round trip", (it) => {
  it.effect.prop(
    "arbitrary payloads go enqueue → worker route → task server → handler unchanged",
    [Roundtrip.schema],
    ([payload]) =>
      Effect.gen(function*() {
        const info = yield* enqueueTask(Roundtrip, payload)
        expect(info.route).toBe("worker")
        expect(yield* Queue.take(yield* Received)).toEqual(payload)
      }),
    { fastCheck: { numRuns: 50 } }
  )
})
