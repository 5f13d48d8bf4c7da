// The three tasks of a transcription pipeline, defined once: the path, the payload Schema, and a
// handler that logs what it receives. Shared by the worker server and the demo.
import { Effect, Option, Schema } from "effect"
import { defineTask, handleTask, TaskContext, taskHandlersLayer } from "effect-http-tasks"

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

export const Handlers = taskHandlersLayer(
  handleTask(Transcribe, logReceived("transcribe")),
  handleTask(Assemble, logReceived("assemble")),
  handleTask(ProcessChunk, logReceived("process-chunk"))
)
