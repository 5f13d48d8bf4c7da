/**
 * The dev worker server: the seed's three task endpoints, typed with Schemas and
 * served over HTTP by `effect-http-tasks/server`, on PORT (default 8001). Each handler
 * logs what it receives; Ctrl-C (SIGINT) or SIGTERM lets running tasks finish, then
 * exits 0. Point an app at it with USE_WORKER_IN_DEV=true WORKER_URL_BASE=http://127.0.0.1:8001.
 *
 *   npm run worker
 *   # 401: no X-Tasks-Auth
 *   curl -i -X POST localhost:8001/api/tasks/transcribe -H 'content-type: application/json' \
 *     -d '{"filename":"gs://bucket/a.wav","user_id":"123"}'
 *   # 200 (the handler ran), or 202 with -H 'prefer: respond-async' (it runs in the background)
 *   curl -i -X POST localhost:8001/api/tasks/transcribe -H 'x-tasks-auth: a-secure-local-secret' \
 *     -H 'content-type: application/json' -d '{"filename":"gs://bucket/a.wav","user_id":"123"}'
 *   # 422: user_id is missing
 *   curl -i -X POST localhost:8001/api/tasks/transcribe -H 'x-tasks-auth: a-secure-local-secret' \
 *     -H 'content-type: application/json' -d '{"filename":"gs://bucket/a.wav"}'
 *
 * The secret is TASKS_AUTH (the development default `a-secure-local-secret` when unset).
 */
import { HttpServer } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Config, Effect, Layer, Logger, Option, Schema } from "effect"
import { createServer } from "node:http"
import { defineTask, handleTask, TaskContext, taskHandlersLayer } from "../src/index.js"
import { TaskServer } from "../src/TaskServer.js"

/** Any further fields of a payload, kept as received. */
const Rest = Schema.Record({ key: Schema.String, value: Schema.Unknown })

export const Transcribe = defineTask(
  "/api/tasks/transcribe",
  Schema.Struct({ filename: Schema.String, user_id: Schema.String })
)

export const Assemble = defineTask(
  "/api/tasks/assemble",
  Schema.Struct({ episode_id: Schema.String, template_id: Schema.String, main_content_filename: Schema.String }, Rest)
)

export const ProcessChunk = defineTask(
  "/api/tasks/process-chunk",
  Schema.Struct({ episode_id: Schema.String, chunk_id: Schema.String }, Rest)
)

/** Logs the payload with the task's Cloud Tasks name and retry count, when it has them. */
const logReceived = (task: string) => (payload: object) =>
  Effect.gen(function*() {
    const context = yield* TaskContext
    yield* Effect.log(`${task} received`).pipe(
      Effect.annotateLogs({
        payload: JSON.stringify(payload),
        task_name: Option.getOrElse(context.taskName, () => "-"),
        retry_count: Option.getOrElse(context.retryCount, () => 0)
      })
    )
  })

const Handlers = taskHandlersLayer(
  handleTask(Transcribe, logReceived("transcribe")),
  handleTask(Assemble, logReceived("assemble")),
  handleTask(ProcessChunk, logReceived("process-chunk"))
)

const HttpLive = Layer.unwrapEffect(
  Effect.map(
    // PORT=0 picks a free port.
    Config.integer("PORT").pipe(
      Config.validate({ message: "Expected a port from 0 to 65535", validation: (port) => port >= 0 && port <= 65535 }),
      Config.withDefault(8001)
    ),
    (port) =>
      TaskServer.serve.pipe(
        HttpServer.withLogAddress,
        Layer.provide(TaskServer.layer),
        Layer.provide(Handlers),
        Layer.provide(NodeHttpServer.layer(createServer, { port }))
      )
  )
)

// NodeRuntime.runMain interrupts on SIGINT/SIGTERM: the server stops, running tasks finish, exit 0.
Layer.launch(HttpLive).pipe(Effect.provide(Logger.logFmt), NodeRuntime.runMain({ disablePrettyLogger: true }))
