// The main demo (`npm start`): every route of enqueueHttpTask on embedded
// defaults, no cloud account and no Docker. A task server on 127.0.0.1 serves the
// three tasks of examples/tasks.ts; the development routes (dry-run, local, worker, loopback)
// dispatch to it or run in-process, and the production route creates real Cloud
// Tasks through the official client and the bundled emulator, which delivers them
// to the same server. Each step prints the route, the task name, the events the
// library logged, and what the endpoint received. Exits 0 when done.
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Console, Effect, HashMap, Layer, Logger, Option } from "effect"
import {
  drain,
  enqueueHttpTask,
  enqueueTask,
  TasksClient,
  type TasksConfigInput
} from "effect-http-tasks"
import { CloudTasksEmulator } from "effect-http-tasks/emulator"
import { TaskServer } from "effect-http-tasks/server"
import { createServer } from "node:http"
import { Assemble, Handlers, ProcessChunk, Transcribe } from "./tasks.js"

const secret = "demo-secret"

// Library events are gathered and printed as one line per dispatch (and one for
// the endpoint's); any other log line (the handlers') is printed as it comes.
const events: Array<string> = []
const endpointEvents: Array<string> = []
const DemoLogger = Logger.replace(
  Logger.defaultLogger,
  Logger.make(({ annotations, message }) => {
    const event = Option.getOrUndefined(HashMap.get(annotations, "event"))
    if (typeof event === "string") {
      return void (event.startsWith("tasks.server.") ? endpointEvents : events).push(event.replace(/^tasks\./, ""))
    }
    const facts = Array.from(HashMap.toEntries(annotations), ([key, value]) => `${key}=${String(value)}`)
    console.log(`    endpoint: ${[message].flat().join(" ")} ${facts.join(" ")}`)
  })
)

const step = <E>(title: string, config: TasksConfigInput, enqueue: Effect.Effect<{ name: string; route: string }, E, TasksClient>) =>
  Effect.gen(function*() {
    yield* Console.log(`\n${title}`)
    events.length = 0
    endpointEvents.length = 0
    const info = yield* enqueue.pipe(
      Effect.tap(() => drain),
      Effect.provide(TasksClient.layerWith({ auth: secret, ...config }).pipe(Layer.provide(Handlers)))
    )
    yield* Console.log(`    route=${info.route} name=${info.name}`)
    yield* Console.log(`    events: ${events.join(" → ")}`)
    if (endpointEvents.length > 0) yield* Console.log(`    endpoint events: ${endpointEvents.join(" → ")}`)
    return info
  })

const demo = Effect.gen(function*() {
  const server = yield* TaskServer
  const address = (yield* HttpServer.HttpServer).address
  const url = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : ""
  yield* Console.log(`Task server listening on ${url} (handlers: ${server.paths.join(", ")})`)

  yield* step("1. dry-run (TASKS_DRY_RUN=true): logged, nothing runs", { dryRun: true },
    enqueueTask(Transcribe, { filename: "gs://bucket/a.wav", user_id: "123" }))

  yield* step("2. local (APP_ENV=dev): the handler runs in-process on its own fiber", { appEnv: "dev" },
    enqueueTask(Transcribe, { filename: "gs://bucket/b.wav", user_id: "123" }))

  yield* step(
    "3. worker (USE_WORKER_IN_DEV, WORKER_URL_BASE): worker paths POST to the worker server",
    { appEnv: "dev", useWorkerInDev: true, workerUrlBase: url },
    enqueueTask(Assemble, { episode_id: "e1", template_id: "t1", main_content_filename: "gs://bucket/main.wav" })
  )
  yield* server.drain

  yield* step(
    "4. loopback (TASKS_FORCE_HTTP_LOOPBACK, TASKS_URL_BASE): every task POSTs to the task endpoints",
    { appEnv: "test", forceHttpLoopback: true, urlBase: url },
    enqueueHttpTask("/api/tasks/transcribe", { filename: "gs://bucket/c.wav", user_id: "456" })
  )
  yield* server.drain

  const emulator = yield* CloudTasksEmulator
  const queue = { project: "demo", location: "us-central1", queue: "default" }
  const task = yield* step(
    `5. cloud-tasks (APP_ENV=production, CLOUD_TASKS_EMULATOR_HOST=${emulator.host}): a real Cloud Task`,
    { appEnv: "production", ...queue, urlBase: url, emulatorHost: emulator.host },
    enqueueTask(ProcessChunk, { episode_id: "e1", chunk_id: "chunk-1" })
  )
  const outcome = yield* Effect.promise(() => emulator.waitForTask(task.name))
  yield* server.drain
  yield* Console.log(`    emulator: ${outcome.result} after ${outcome.attempts.length} attempt(s), HTTP ${outcome.attempts[0]?.status}`)
  yield* Console.log("\nDone: five routes, one call.")
})

const DemoLive = Layer.mergeAll(
  TaskServer.serve.pipe(Layer.provideMerge(TaskServer.layerWith({ appEnv: "dev", auth: secret }))),
  CloudTasksEmulator.layer({ queues: ["projects/demo/locations/us-central1/queues/default"] })
).pipe(
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
  Layer.provide(Handlers)
)

Effect.runPromise(demo.pipe(Effect.provide(DemoLive), Effect.scoped, Effect.provide(DemoLogger))).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
