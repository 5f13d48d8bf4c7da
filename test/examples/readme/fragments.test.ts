// The README's fragments, verbatim, each in the context that makes it a program: the opening
// one-liner, the Options snippet and the error-handling snippet (section "Errors"). They run
// in production mode against the emulator, so Cloud Tasks' own rules check the options.
// It imports only what an application would: .ci/fresh-app.mjs runs it against the packed tarball.
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { enqueueHttpTask, taskIdFromKey, TasksClient } from "effect-http-tasks"
import { CloudTasksEmulator } from "effect-http-tasks/emulator"

const queue = "projects/demo/locations/us-central1/queues/default"
const payload = { filename: "gs://bucket/a.wav", user_id: "123" }

// The opening one-liner.
const teaser = Effect.gen(function*() {
  const task = yield* enqueueHttpTask("/api/tasks/transcribe", { filename: "gs://bucket/a.wav", user_id: "123" })
  return task
})

// Options: an upload's transcription, named after the upload, in five minutes.
const transcribeUpload = (id: string, requestId: string) =>
  Effect.gen(function*() {
    yield* enqueueHttpTask("/api/tasks/transcribe", payload, {
      dispatchDeadline: "20 minutes",       // 15 s to 30 min; overrides the per-path default
      taskId: taskIdFromKey(`upload:${id}`), // Cloud Tasks dedup: a second task with this ID fails with reason "already_exists"
      delay: "5 minutes",                    // or scheduleTime: a Date or DateTime, at most 30 days ahead
      headers: { "X-Request-Id": requestId } // extra headers; auth, content and Google headers are reserved
    })
  })

// Errors: a second enqueue of a named task is not an error for this caller.
const enqueueOnce = (taskId: string) =>
  enqueueHttpTask("/api/tasks/transcribe", payload, { taskId }).pipe(
    Effect.catchTag("DispatchError", (error) =>
      error.reason === "already_exists" ? Effect.succeed({ name: taskId, route: error.route }) : Effect.fail(error))
  )

it.live("the README's fragments run against Cloud Tasks (the emulator)", () =>
  Effect.gen(function*() {
    const emulator = yield* CloudTasksEmulator
    const production = TasksClient.layerWith({
      appEnv: "production", project: "demo", location: "us-central1", queue: "default",
      // Nothing listens there: the tasks are created, not delivered, within the test.
      urlBase: "http://127.0.0.1:9", auth: "test-secret", emulatorHost: emulator.host
    })
    const task = yield* teaser.pipe(Effect.provide(production))
    expect(task.name).toMatch(new RegExp(`^${queue}/tasks/\\w+$`))

    yield* transcribeUpload("42", "request-1").pipe(Effect.provide(production))
    const taskId = taskIdFromKey("upload:42")
    // The Options snippet named its task: enqueueing the same ID again is already_exists, caught.
    expect(yield* enqueueOnce(taskId).pipe(Effect.provide(production))).toEqual({ name: taskId, route: "cloud-tasks" })
    // Any other failure still fails.
    const invalid = yield* Effect.flip(enqueueOnce("not a valid id").pipe(Effect.provide(production)))
    expect(invalid).toMatchObject({ _tag: "DispatchError", reason: "invalid_options" })
  }).pipe(Effect.provide(CloudTasksEmulator.layer({ queues: [queue] }))))
