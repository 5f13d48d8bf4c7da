/**
 * The dev worker server: the three task endpoints of examples/tasks.ts, typed with Schemas and
 * served over HTTP by `effect-http-tasks/server`, on HOST:PORT (default 127.0.0.1:8001:
 * with the public development secret it should not face a network; HOST=0.0.0.0 in
 * a container). Each handler
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
 * A client slower than HEADERS_TIMEOUT over its headers (default 10 seconds) or than
 * REQUEST_TIMEOUT over its whole request (default 30 seconds) is disconnected.
 */
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Config, Duration, Effect, Layer, Logger } from "effect"
import { TaskServer } from "effect-http-tasks/server"
import { createServer } from "node:http"
import { Handlers } from "./tasks.js"

/**
 * Node's bounds on slow clients: the headers within `headers`, the whole request within
 * `request` (Node checks every `connectionsCheckingInterval`, 30 seconds unless set).
 */
const slowClientLimits = (headers: Duration.Duration, request: Duration.Duration) => {
  const headersTimeout = Duration.toMillis(headers)
  return {
    headersTimeout,
    requestTimeout: Math.max(headersTimeout, Duration.toMillis(request)),
    connectionsCheckingInterval: Math.max(10, Math.min(1000, headersTimeout / 4))
  }
}

const HttpLive = Layer.unwrapEffect(
  Effect.map(
    Config.all([
      // PORT=0 picks a free port.
      Config.integer("PORT").pipe(
        Config.validate({ message: "Expected a port from 0 to 65535", validation: (port) => port >= 0 && port <= 65535 }),
        Config.withDefault(8001)
      ),
      Config.string("HOST").pipe(Config.withDefault("127.0.0.1")),
      Config.duration("HEADERS_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10))),
      Config.duration("REQUEST_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30)))
    ]),
    ([port, host, headersTimeout, requestTimeout]) =>
      // TaskServer.serve logs where it listens (tasks.server.listening).
      TaskServer.serve.pipe(
        Layer.provide(TaskServer.layer),
        Layer.provide(Handlers),
        Layer.provide(NodeHttpServer.layer(() => createServer(slowClientLimits(headersTimeout, requestTimeout)), { port, host }))
      )
  )
)

// NodeRuntime.runMain interrupts on SIGINT/SIGTERM: the server stops, running tasks finish, exit 0.
Layer.launch(HttpLive).pipe(Effect.provide(Logger.logFmt), NodeRuntime.runMain({ disablePrettyLogger: true }))
