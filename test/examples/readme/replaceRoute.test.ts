// The README's "Replacing a route in your own tests" example, verbatim.
import { it, expect } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { CloudTasksRoute, enqueueHttpTask, TaskHandlers, TasksClient, TasksConfig } from "effect-http-tasks"

const sent: Array<string> = []
const FakeCloud = Layer.succeed(CloudTasksRoute, {
  dispatch: (task) => Effect.sync(() => (sent.push(task.body), { name: "projects/p/locations/l/queues/q/tasks/1", route: "cloud-tasks" }))
})

const TestTasks = TasksClient.layerWithoutRoutes.pipe(
  Layer.provide(FakeCloud),
  Layer.provide(TasksClient.routes),
  Layer.provide(TasksConfig.layer),
  Layer.provide(TaskHandlers.layer({})),
  Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({
    APP_ENV: "production", GOOGLE_CLOUD_PROJECT: "p", TASKS_LOCATION: "l", TASKS_QUEUE: "q",
    TASKS_URL_BASE: "https://api.example.com", TASKS_AUTH: "test-secret"
  })))
)

it.effect("enqueues a transcription", () =>
  Effect.gen(function*() {
    yield* enqueueHttpTask("/api/tasks/transcribe", { filename: "a.wav" })
    expect(sent).toEqual(['{"filename":"a.wav"}'])
  }).pipe(Effect.provide(TestTasks)))
