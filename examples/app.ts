// Shows an application wired at the edge: handlers that use the app's own
// services, TasksClient.layer reading configuration from the environment, and
// logfmt output. With no variables set it runs in dev and handles the task
// in-process; set TASKS_DRY_RUN=true, or APP_ENV=production with the Cloud Tasks
// variables, and the same code dispatches elsewhere.
// Run: npx tsx --conditions=@effect-http-tasks/source examples/app.ts
import { NodeRuntime } from "@effect/platform-node"
import { Context, Effect, Layer, Logger } from "effect"
import { drain, enqueueHttpTask, TaskHandlers, TasksClient } from "effect-http-tasks"

// An application service the task handler needs.
class Transcriber extends Context.Tag("app/Transcriber")<Transcriber, {
  readonly transcribe: (filename: string) => Effect.Effect<string>
}>() {}

const TranscriberLive = Layer.succeed(Transcriber, {
  transcribe: (filename) => Effect.succeed(`transcript of ${filename}`)
})

// The handler runs in-process in dev, and behind the task server in production.
const Handlers = TaskHandlers.layer({
  "/api/tasks/transcribe": (payload) =>
    Effect.gen(function*() {
      const { filename } = payload as { filename: string }
      const text = yield* (yield* Transcriber).transcribe(filename)
      yield* Effect.log(text)
    })
})

// Application code only ever calls enqueueHttpTask.
const handleUpload = (filename: string, userId: string) =>
  Effect.gen(function*() {
    const task = yield* enqueueHttpTask("/api/tasks/transcribe", { filename, user_id: userId })
    yield* Effect.log(`queued ${task.name} (${task.route})`)
  })

const program = Effect.gen(function*() {
  yield* handleUpload("gs://bucket/interview.wav", "123")
  yield* drain
})

// The edge: configuration from the environment, every route wired in.
const MainLive = Layer.merge(
  TasksClient.layer.pipe(Layer.provide(Handlers), Layer.provide(TranscriberLive)),
  Logger.logFmt
)

NodeRuntime.runMain(program.pipe(Effect.provide(MainLive)), { disablePrettyLogger: true })
