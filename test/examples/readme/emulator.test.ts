// The README's emulator example ("The Cloud Tasks emulator"), verbatim inside a vitest test that
// gives it its context: a task server to deliver to (`urlBase`) and the official client's `grpc`.
// It imports only what an application would: .ci/fresh-app.mjs runs it against the packed tarball.
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { CloudTasksClient } from "@google-cloud/tasks"
import { Effect, Layer, ManagedRuntime } from "effect"
import { enqueueHttpTask, TaskHandlers, TasksClient } from "effect-http-tasks"
import { CloudTasksEmulator } from "effect-http-tasks/emulator"
import { TaskServer } from "effect-http-tasks/server"
import { createServer } from "node:http"
import { createRequire } from "node:module"
import { expect, it } from "vitest"

// The grpc-js that @google-cloud/tasks loads through its own google-gax: credentials from a
// second copy of grpc-js would not be accepted by the client.
const require = createRequire(import.meta.url)
const { grpc } = createRequire(require.resolve("@google-cloud/tasks"))("google-gax") as typeof import("google-gax")

it("a task enqueued in production mode goes through the emulator to the task server", async () => {
  const received: Array<unknown> = []
  const server = ManagedRuntime.make(
    TaskServer.serve.pipe(
      Layer.provideMerge(TaskServer.layerWith({ appEnv: "test", auth: "test-secret" })),
      Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
      Layer.provide(TaskHandlers.layer({
        "/api/tasks/transcribe": (payload) => Effect.sync(() => received.push(payload))
      }))
    )
  )
  try {
    const address = await server.runPromise(Effect.map(HttpServer.HttpServer, (http) => http.address))
    const urlBase = `http://127.0.0.1:${address._tag === "TcpAddress" ? address.port : 0}`

    const emulator = await CloudTasksEmulator.start({
      queues: ["projects/demo/locations/us-central1/queues/default"],
      queueSettings: { minBackoff: "10 millis" } // fast retries for tests
    })
    // point this library at it (urlBase: where the test serves the task endpoints) …
    const layer = TasksClient.layerWith({
      appEnv: "production", project: "demo", location: "us-central1", queue: "default",
      urlBase, auth: "test-secret", emulatorHost: emulator.host
    })
    const task = await Effect.runPromise(Effect.provide(enqueueHttpTask("/api/tasks/transcribe", { filename: "a.wav" }), layer))
    const outcome = await emulator.waitForTask(task.name) // { result: "succeeded" | "exhausted" | "deleted" | "purged", attempts, at }
    const attempts = emulator.attempts()                  // every delivery so far: request headers and body, status, timing
    // … or the official client
    const client = new CloudTasksClient({
      servicePath: "127.0.0.1", port: emulator.port,
      sslCreds: grpc.credentials.createInsecure(), // grpc from the client's own google-gax
      universeDomain: "googleapis.com"             // no metadata-server lookup
    })
    const [queue] = await client.getQueue({ name: "projects/demo/locations/us-central1/queues/default" })
    await client.close()
    await emulator.stop()

    expect(task.route).toBe("cloud-tasks")
    expect(outcome.result).toBe("succeeded")
    expect(outcome.attempts.map((attempt) => attempt.status)).toEqual([200])
    expect(attempts.map((attempt) => attempt.task)).toEqual([task.name])
    expect(attempts[0]?.headers["X-Tasks-Auth"]).toBe("test-secret")
    expect(queue.state).toBe("RUNNING")
    expect(received).toEqual([{ filename: "a.wav" }])
  } finally {
    await server.dispose()
  }
})
