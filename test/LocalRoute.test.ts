import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, type Duration, Effect, Exit, Fiber, Layer, Schema, Scope, TestClock } from "effect"
import {
  defineTask,
  drain,
  enqueueHttpTask,
  Events,
  handleTask,
  LocalRoute,
  type TaskHandlerFunction,
  TaskHandlers,
  TasksClient,
  TasksConfig,
  taskHandlersLayer
} from "../src/index.js"
import { captureLogs } from "./utils/logs.js"

const client = (handlers: Record<string, TaskHandlerFunction>, gracePeriod: Duration.DurationInput = "1 second") =>
  TasksClient.layerWithoutRoutes.pipe(
    Layer.provide(LocalRoute.layerWith({ gracePeriod })),
    Layer.provide(TasksClient.routes),
    Layer.provide(TasksConfig.layerWith({ appEnv: "dev" })),
    Layer.provide(TaskHandlers.layer(handlers))
  )

class Greeting extends Context.Tag("test/Greeting")<Greeting, string>() {}

describe("LocalRoute", () => {
  it.effect("returns before the handler finishes; drain waits for it", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const done: Array<string> = []
      yield* Effect.gen(function*() {
        const info = yield* enqueueHttpTask("/slow", { n: 1 })
        expect(info.route).toBe("local")
        expect(done).toEqual([])
        const drained = yield* Effect.fork(drain)
        yield* Effect.yieldNow()
        expect(drained.unsafePoll()).toBeNull()
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(drained)
        expect(done).toEqual(["slow"])
      }).pipe(
        Effect.provide(client({ "/slow": () => Deferred.await(gate).pipe(Effect.andThen(() => done.push("slow"))) }))
      )
    }))

  it.effect("a failing handler is logged as task_failed and not raised to the enqueuer", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const info = yield* enqueueHttpTask("/boom", {})
      yield* drain
      expect(info.name).toBe("local-direct-dispatch")
      const [failed] = logs.of(Events.taskFailed)
      expect(failed?.annotations.path).toBe("/boom")
      expect(failed?.cause).toContain("kaput")
    }).pipe(
      Effect.provide(client({ "/boom": () => Effect.fail(new Error("kaput")) })),
      Effect.provide(layer)
    )
  })

  it.effect("a path with no handler is a DispatchError no_handler; nothing runs", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(enqueueHttpTask("/missing", {}))
      expect(error).toMatchObject({ _tag: "DispatchError", reason: "no_handler", route: "local", path: "/missing" })
    }).pipe(Effect.provide(client({}))))

  it.effect("honours scheduleTime: the handler runs once the clock reaches it", () =>
    Effect.gen(function*() {
      const ran: Array<number> = []
      yield* Effect.gen(function*() {
        yield* enqueueHttpTask("/later", {}, { delay: "5 minutes" })
        yield* TestClock.adjust("4 minutes")
        expect(ran).toEqual([])
        yield* TestClock.adjust("1 minute")
        yield* drain
        expect(ran).toEqual([300_000])
      }).pipe(
        Effect.provide(client({
          "/later": () => Effect.clockWith((clock) => clock.currentTimeMillis).pipe(Effect.map((t) => ran.push(t)))
        }))
      )
    }))

  it.live("closing the layer drains in-flight handlers within the grace period", () =>
    Effect.gen(function*() {
      const finished: Array<string> = []
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        client({ "/t": () => Effect.sleep("100 millis").pipe(Effect.andThen(() => finished.push("t"))) }, "1 minute"),
        scope
      )
      yield* enqueueHttpTask("/t", {}).pipe(Effect.provide(context))
      yield* Scope.close(scope, Exit.void)
      expect(finished).toEqual(["t"])
    }))

  it.live("past the grace period, closing interrupts what is left and logs each task_interrupted", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(client({ "/stuck": () => Effect.never }, "50 millis"), scope)
      yield* enqueueHttpTask("/stuck", {}).pipe(Effect.provide(context))
      yield* enqueueHttpTask("/stuck", {}).pipe(Effect.provide(context), Effect.annotateLogs("requestId", "r-42"))
      yield* Scope.close(scope, Exit.void)
      const interrupted = logs.of(Events.taskInterrupted)
      const perTask = interrupted.filter((entry) => entry.annotations.path === "/stuck")
      expect(perTask).toHaveLength(2)
      // Each is logged as its task would have logged it, with the enqueuer's annotations.
      expect(perTask.map((entry) => entry.annotations.requestId)).toEqual([undefined, "r-42"])
      // The close summary is an event of its own, with the count.
      expect(interrupted).toHaveLength(2)
      expect(logs.of(Events.closeTimedOut).map((entry) => entry.annotations.count)).toEqual([2])
    }).pipe(Effect.provide(layer))
  })

  it.live("a handler that interrupts itself is a task_failed with its cause", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      yield* enqueueHttpTask("/quits", {})
      yield* drain
      const [failed] = logs.of(Events.taskFailed)
      expect(failed?.level).toBe("ERROR")
      expect(failed?.cause).toContain("interrupted")
      expect(logs.of(Events.taskInterrupted)).toEqual([])
    }).pipe(Effect.provide(client({ "/quits": () => Effect.interrupt })), Effect.provide(layer))
  })

  it.live("a task enqueued while the layer is closing is refused, not silently dropped, and logged as refused", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      const ran: Array<string> = []
      const context = yield* Layer.buildWithScope(
        client({
          "/slow": () => Effect.sleep("300 millis"),
          "/late": () => Effect.sync(() => ran.push("late"))
        }, "5 seconds"),
        scope
      )
      yield* enqueueHttpTask("/slow", {}).pipe(Effect.provide(context))
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Effect.sleep("50 millis") // closing now waits for /slow within its grace period
      const refused = yield* Effect.flip(enqueueHttpTask("/late", {}).pipe(Effect.provide(context)))
      expect(refused).toMatchObject({ _tag: "DispatchError", reason: "shutting_down", route: "local", path: "/late" })
      yield* Fiber.join(closing)
      expect(ran).toEqual([])
      // Refusing a task is not interrupting one: each has its own event.
      expect(logs.of(Events.taskRefused).map((entry) => entry.annotations.path)).toEqual(["/late"])
      expect(logs.of(Events.taskInterrupted)).toEqual([])
    }).pipe(Effect.provide(layer))
  })

  const Hi = defineTask("/hi", Schema.Struct({ name: Schema.String }))
  const greet = (seen: Array<string>) => (name: string) => Effect.map(Greeting, (g) => seen.push(`${g} ${name}`))

  it.effect("handlers get the services captured by TaskHandlers.layer and taskHandlersLayer, over the caller's", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const handlers = [
        TaskHandlers.layer({ "/hi": (payload) => greet(seen)((payload as { name: string }).name) }),
        taskHandlersLayer(handleTask(Hi, ({ name }) => greet(seen)(name)))
      ]
      for (const layer of handlers) {
        yield* Effect.gen(function*() {
          yield* enqueueHttpTask("/hi", { name: "ada" })
          yield* drain
          // The handler's services were set on its own fiber only.
          expect(yield* Greeting).toBe("from the caller")
        }).pipe(
          Effect.provide(TasksClient.layerWith({}).pipe(
            Layer.provide(layer),
            Layer.provide(Layer.succeed(Greeting, "hello"))
          )),
          Effect.provideService(Greeting, "from the caller")
        )
      }
      expect(seen).toEqual(["hello ada", "hello ada"])
    }))
})
