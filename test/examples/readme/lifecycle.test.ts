// The README's lifecycle test, verbatim: a failing task retried as its queue says, on effect's TestClock.
import { expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer, Schema, TestClock } from "effect"
import { defineQueue, defineTask, drain, enqueueTask, handleTask, TasksClient, taskHandlersLayer } from "effect-http-tasks"

const Reports = defineQueue("reports", { maxAttempts: 4, minBackoff: "1 second" })
const BuildReport = defineTask("/api/tasks/report", Schema.Struct({ month: Schema.String }), { queue: Reports })

it.effect("a report that keeps failing is tried 4 times, 1, 2 and 4 seconds apart, then given up", () => {
  const attempts: Array<number> = []
  const Handlers = taskHandlersLayer(
    handleTask(BuildReport, () =>
      Effect.gen(function*() {
        attempts.push(yield* Clock.currentTimeMillis)
        return yield* Effect.fail("the warehouse is down")
      }))
  )
  return Effect.gen(function*() {
    yield* enqueueTask(BuildReport, { month: "2026-11" })
    // The in-process queue keeps time with effect's Clock: the TestClock moves it, nothing waits.
    const drained = yield* Effect.fork(drain)
    while (drained.unsafePoll() === null) yield* TestClock.adjust("100 millis")
    yield* Fiber.join(drained)
    expect(attempts).toEqual([0, 1_000, 3_000, 7_000])
  }).pipe(Effect.provide(TasksClient.layerWith({ appEnv: "test" }).pipe(Layer.provide(Handlers))))
})
