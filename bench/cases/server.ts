/**
 * B7: the task server's requests/s (auth, JSON, Schema decode, a no-op handler, 200)
 * against a bare `@effect/platform` POST route on the same server stack that parses
 * the JSON and answers 200. Both servers run in this process, logs below Warning
 * filtered out; one load generator (bench/load/post.mjs) loads each in turn.
 */
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer, ManagedRuntime, Schema } from "effect"
import { defineTask, handleTask, taskHandlersLayer } from "effect-http-tasks"
import { TaskServer } from "effect-http-tasks/server"
import { createServer } from "node:http"
import { loadGenerator } from "../children.js"
import { body, headers, secret } from "../cloud.js"
import { pairsOf, repeat } from "../harness.js"
import { size } from "../options.js"
import { report } from "../report.js"
import { quiet } from "./cloud.js"

const path = "/api/tasks/transcribe"
const Transcribe = defineTask(path, Schema.Struct({ filename: Schema.String, user_id: Schema.String }))

const listen = () => NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })

const ours = TaskServer.serve.pipe(
  Layer.provide(TaskServer.layerWith({ appEnv: "production", auth: secret })),
  Layer.provide(taskHandlersLayer(handleTask(Transcribe, () => Effect.void))),
  Layer.provideMerge(listen())
)

const baseline = HttpServer.serve(
  HttpRouter.empty.pipe(
    HttpRouter.post(
      path,
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => request.json).pipe(
        Effect.as(HttpServerResponse.empty({ status: 200 }))
      )
    )
  )
).pipe(Layer.provideMerge(listen()))

/** Starts `layer` and resolves with its URL for the task path and how to stop it. */
const start = async (layer: Layer.Layer<HttpServer.HttpServer, unknown>) => {
  const runtime = ManagedRuntime.make(Layer.provideMerge(layer, quiet))
  const address = (await runtime.runPromise(HttpServer.HttpServer)).address
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  return { url: `http://127.0.0.1:${address.port}${path}`, stop: () => runtime.dispose() }
}

export const serverCase = async () => {
  const generator = loadGenerator()
  const servers = [await start(ours), await start(baseline)] as const
  try {
    const concurrency = 32
    const load = (url: string) => async () => {
      await generator.collect()
      const run = await generator.run({ url, headers, body, concurrency, ms: size(1000, 500) })
      return { rate: (run.requests / run.ms) * 1000, p99: run.p99 }
    }
    // The platform's server stack needs thousands of requests before the JIT has
    // compiled it (measured: 1,900 µs of CPU per request over the first 200, 250 after 10,000).
    await repeat(size(10, 6), size(20, 6), async () => {
      for (const server of servers) await generator.run({ url: server.url, headers, body, concurrency, count: 500 })
    })
    const b7 = await pairsOf(
      { warmup: 0, min: 5, max: size(60, 40), seconds: size(30, 7) },
      load(servers[0].url),
      load(servers[1].url)
    )
    report("B7", `task server, concurrency ${concurrency}, requests/s (vs a bare HttpRouter POST route)`, b7.rate, "higher", 0.8)
    report("B7p", "the same, p99 latency, ms", b7.p99, "lower", null)
  } finally {
    await generator.stop()
    for (const server of servers) await server.stop()
  }
}
