// The README's "Mounting the router in an existing server" example, verbatim (type-checked, not imported).
import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { router, TaskServer, withRedactedAuthHeader } from "effect-http-tasks/server"
import { createServer } from "node:http"
import { TaskHandlersLive } from "./taskOnce.js"

export const AppLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const tasks = yield* router
    const app = HttpRouter.empty.pipe(
      HttpRouter.get("/health", HttpServerResponse.text("ok")),
      HttpRouter.concat(tasks)
    )
    return HttpServer.serve(app)
  })
).pipe(
  withRedactedAuthHeader, // keeps X-Tasks-Auth out of the HTTP span attributes
  Layer.provide(TaskServer.layer),
  Layer.provide(TaskHandlersLive),
  Layer.provide(NodeHttpServer.layer(createServer, { port: 8080 }))
)
