// The README's "The endpoint" example, verbatim (type-checked; it starts a server, so it is not imported).
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { TaskServer } from "effect-http-tasks/server"
import { createServer } from "node:http"
import { TaskHandlersLive } from "./taskOnce.js"

const WorkerLive = TaskServer.serve.pipe(
  Layer.provide(TaskServer.layer),
  Layer.provide(TaskHandlersLive),
  Layer.provide(NodeHttpServer.layer(createServer, { port: 8080 }))
)

Layer.launch(WorkerLive).pipe(NodeRuntime.runMain)
