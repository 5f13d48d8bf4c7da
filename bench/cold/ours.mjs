// B4, ours: import the library and do one dry-run enqueue.
import { Effect, Layer } from "effect"
import { enqueueHttpTask, TaskHandlers, TasksClient } from "effect-http-tasks"

await Effect.runPromise(
  enqueueHttpTask("/api/tasks/transcribe", { filename: "a.wav" }).pipe(
    Effect.provide(TasksClient.layerWith({ dryRun: true }).pipe(Layer.provide(TaskHandlers.layer({}))))
  )
)
