// Shows the two routes that need no server: dry-run (log and return a name, run
// nothing) and local (run the registered handler in-process on its own fiber).
// Run: npx tsx --conditions=@effect-http-tasks/source examples/dry-run-and-local.ts
import { Effect, Layer, Logger } from "effect"
import { drain, enqueueHttpTask, TaskHandlers, TasksClient } from "effect-http-tasks"

const handlers = TaskHandlers.layer({
  "/api/tasks/transcribe": (payload) => Effect.log("transcribing", payload)
})

const enqueueOne = Effect.gen(function*() {
  const info = yield* enqueueHttpTask("/api/tasks/transcribe", { filename: "gs://bucket/a.wav", user_id: "123" })
  yield* Effect.log(`enqueued ${info.name} via ${info.route}`)
  yield* drain // wait for in-process handlers before exiting
})

const program = Effect.gen(function*() {
  // Configuration normally comes from the environment (TasksClient.layer);
  // here it is explicit so the example runs the same everywhere.
  yield* enqueueOne.pipe(Effect.provide(TasksClient.layerWith({ dryRun: true }).pipe(Layer.provide(handlers))))
  yield* enqueueOne.pipe(Effect.provide(TasksClient.layerWith({ appEnv: "dev" }).pipe(Layer.provide(handlers))))
})

program.pipe(Effect.provide(Logger.logFmt), Effect.runPromise)
