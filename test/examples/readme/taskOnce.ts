// The README's "Writing a task once" example, verbatim (type-checked; run by taskOnce.test.ts).
import { Effect, Layer, Option, Schema } from "effect"
import { defineTask, enqueueTask, handleTask, TaskContext, TasksClient, taskHandlersLayer } from "effect-http-tasks"

// 1. The definition
export const Transcribe = defineTask(
  "/api/tasks/transcribe",
  Schema.Struct({ filename: Schema.String, user_id: Schema.String }),
  { dispatchDeadline: "30 minutes" }
)

// 2. The handler: receives the decoded payload; TaskContext holds the Cloud Tasks headers
export const TaskHandlersLive = taskHandlersLayer(
  handleTask(Transcribe, ({ filename, user_id }) =>
    Effect.gen(function*() {
      const task = yield* TaskContext
      const attempt = Option.getOrElse(task.retryCount, () => 0) + 1
      yield* Effect.log(`transcribing ${filename} for ${user_id}, attempt ${attempt}`)
    }))
)

// 3. The enqueue: a payload that does not fit the Schema is a compile-time error
export const TasksLive = TasksClient.layer.pipe(Layer.provide(TaskHandlersLive))

export const signup = (userId: string) =>
  Effect.gen(function*() {
    const info = yield* enqueueTask(Transcribe, { filename: "gs://bucket/a.wav", user_id: userId })
    yield* Effect.log(`queued ${info.name} via ${info.route}`)
  })
