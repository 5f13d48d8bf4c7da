// The README's "Testing code that enqueues" example, verbatim: the test kit of
// effect-http-tasks/testing. It imports only what an application would, so
// .ci/fresh-app.mjs runs it against the packed tarball too.
import { expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { defineQueue, enqueueHttpTask, NonRetryableError, TaskHandlers } from "effect-http-tasks"
import { TestTasks } from "effect-http-tasks/testing"

// The application: a queue, a handler, and code that enqueues.
const Email = defineQueue("email", { maxAttempts: 5, minBackoff: "1 minute" })

const Handlers = TaskHandlers.layer({
  "/api/tasks/welcome": (payload) => {
    const { to } = payload as { to: string }
    if (to.endsWith(".invalid")) return new NonRetryableError({ message: `cannot deliver to ${to}` })
    if (to.endsWith("@down.example")) return Effect.fail("the mail server did not answer")
    return Effect.log(`welcome, ${to}`)
  }
})

const signup = (email: string) => enqueueHttpTask("/api/tasks/welcome", { to: email }, { queue: Email })

// Production configuration: the kit records what Cloud Tasks would have received.
const Tasks = TestTasks.layer.pipe(
  Layer.provide(Handlers),
  Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({
    APP_ENV: "production", GOOGLE_CLOUD_PROJECT: "p", TASKS_LOCATION: "l", TASKS_QUEUE: "default",
    TASKS_URL_BASE: "https://api.example.com", TASKS_AUTH: "test-secret"
  })))
)

it.effect("signup sends a welcome e-mail: dropped for a bad address, retried while the server is down", () =>
  Effect.gen(function*() {
    yield* signup("ada@example.com")
    yield* signup("bob@example.invalid")
    yield* signup("eve@down.example")
    const [welcome] = yield* TestTasks.recorded
    expect(welcome).toMatchObject({ route: "cloud-tasks", queue: "email", payload: { to: "ada@example.com" }, state: "enqueued" })

    const ran = yield* TestTasks.runAll // through the handlers; the queue's backoff takes no time
    expect(ran.map(({ attempts, state }) => [state, attempts])).toEqual([["succeeded", 1], ["dropped", 1], ["exhausted", 5]])
  }).pipe(Effect.provide(Tasks)))
