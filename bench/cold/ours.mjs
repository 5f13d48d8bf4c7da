// B4, ours: import the library and do one dry-run enqueue.
import { Effect } from "effect"
import { enqueueHttpTask, TasksClient } from "effect-http-tasks"
import { done } from "./done.mjs"

await Effect.runPromise(
  enqueueHttpTask("/api/tasks/transcribe", { filename: "a.wav" }).pipe(
    Effect.provide(TasksClient.layerWith({ dryRun: true }))
  )
)
done()
