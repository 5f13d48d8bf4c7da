// The task lifecycle in-process, as Cloud Tasks runs it in production: a queue defined in
// code, retries with its backoff, a handler that says "never again" or "not before",
// a cancelled task, and drain waiting for every outcome.
// Run: npx tsx --conditions=@effect-http-tasks/source examples/lifecycle.ts
import { Effect, Layer, Logger, Option, Schema } from "effect"
import {
  cancelTask,
  defineQueue,
  defineTask,
  drain,
  enqueueTask,
  handleTask,
  NonRetryableError,
  RetryAfterError,
  TaskContext,
  TasksClient,
  taskHandlersLayer
} from "effect-http-tasks"

// A queue as code: Cloud Tasks' retry settings and rate limits, checked as Cloud Tasks checks them
export const Emails = defineQueue("emails", {
  maxAttempts: 4,
  minBackoff: "100 millis",
  maxBackoff: "1 second",
  maxDispatchesPerSecond: 20
})

export const SendEmail = defineTask(
  "/api/tasks/send-email",
  Schema.Struct({ to: Schema.String }),
  { queue: Emails }
)

const Handlers = taskHandlersLayer(
  handleTask(SendEmail, ({ to }) =>
    Effect.gen(function*() {
      const task = yield* TaskContext
      const retries = Option.getOrElse(task.retryCount, () => 0)
      if (to.endsWith("@invalid")) {
        // retrying cannot help: the task is dropped (the server answers 2xx, Cloud Tasks stops)
        return yield* new NonRetryableError({ message: `no such domain: ${to}` })
      }
      if (to.startsWith("busy") && retries === 0) {
        // not before a second from now (the server answers 503 with `Retry-After: 1`)
        return yield* new RetryAfterError({ after: "1 second" })
      }
      if (to.startsWith("flaky") && retries < 2) {
        // any other failure is retried with the queue's backoff: 100 ms, then 200 ms
        return yield* Effect.fail(`SMTP timeout (attempt ${retries + 1})`)
      }
      yield* Effect.log(`sent to ${to} after ${retries} retries`)
    }))
)

const program = Effect.gen(function*() {
  yield* enqueueTask(SendEmail, { to: "ada@example.com" })
  yield* enqueueTask(SendEmail, { to: "flaky@example.com" })
  yield* enqueueTask(SendEmail, { to: "busy@example.com" })
  yield* enqueueTask(SendEmail, { to: "bob@invalid" })
  const reminder = yield* enqueueTask(SendEmail, { to: "carol@example.com" }, { delay: "1 hour" })
  yield* cancelTask(reminder.name) // the user unsubscribed: it never runs
  yield* drain // every task above has ended: succeeded, dropped or cancelled
})

program.pipe(
  Effect.provide(TasksClient.layerWith({ appEnv: "dev" }).pipe(Layer.provide(Handlers))),
  Effect.provide(Logger.logFmt),
  Effect.runPromise
)
