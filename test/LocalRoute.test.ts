/**
 * The in-process queue of the local route: tasks run their handlers in-process the way
 * Cloud Tasks would run them behind the task server: with their queue's retries and
 * backoff, rate and concurrency limits, schedule, named-task dedup and cancellation, and
 * with the TaskContext values Cloud Tasks would send. Time is effect's TestClock unless
 * a test says otherwise.
 *
 * Equivalent mutants of src/internal/localQueue.ts, disabled in the source line by line with their
 * reasons: the cache of merged services forced to rebuild (only costs work); the log-level
 * pre-check (the logger filters the same); `ensureQueue` on every dispatch (idempotent); an engine
 * error that is not an ApiError (the engine throws only its own) and a task ID read as "" for
 * ALREADY_EXISTS (only a named task can exist already); the guards for a task that is not live
 * or that the engine does not hold (`settle`'s, closing's, `forget`'s, `cancel`'s
 * `task === undefined`: the route registers a task as the engine creates it and forgets it when
 * the engine ends it; the one gap, a task the engine has just ended that the route has not yet
 * forgotten, is tested through a cancel); `task.dropped` set on every outcome and
 * its cause always built (read only for a dropped task, where it is set); `Cause.empty` for a
 * success (never logged as failed); silencing no fiber (a no-op); an empty catch (returns
 * undefined too); a replay's request tag and URL prefix (every in-process task is an HTTP one under
 * the base URL) and its `TaskInfo.route` (only its name is read); the enqueuer's runtime made anew
 * although its refs are unchanged (`sameRefs` answering no, the reuse skipped, the same snapshot
 * not recognised: only costs work; answering yes wrongly is caught by the tests of what each
 * task's enqueue had in scope); the enqueuer's refs read through effect's `getFiberRefs`, which
 * copies them (the same values: only costs work); an
 * ended task left in the map of live tasks, and that map never or always replaced by a copy (only
 * memory and the garbage collector notice: benchmarks B5 and B5h).
 * Not disabled, as their lines hold killed mutants of the same kind: `sameRefs`' size check and
 * per-ref check forced true (it answers no: only costs work), the whole condition for reusing the
 * enqueuer's runtime forced false (the same; its line also holds the flags check, which the test
 * of a caller's runtime flags kills), `engineName`'s `queue !== undefined`
 * forced true (a name without a queue has no task ID either), and the too-large check forced true
 * (the client's checks leave the engine no other refusal than a name taken or the size).
 */
import { describe, expect, it } from "@effect/vitest"
import {
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  FastCheck as fc,
  Fiber,
  FiberRef,
  HashMap,
  Layer,
  Option,
  RuntimeFlags,
  RuntimeFlagsPatch,
  Schema,
  Scope,
  TestClock
} from "effect"
import {
  cancelTask,
  defineQueue,
  defineTask,
  drain,
  enqueueHttpTask,
  Events,
  handleTask,
  LocalRoute,
  NonRetryableError,
  RetryAfterError,
  type TaskContextShape,
  type TaskHandlerFunction,
  TaskHandlers,
  TasksClient,
  TasksConfig,
  taskHandlersLayer
} from "../src/index.js"
import { TaskContext } from "../src/TaskContext.js"
import { modelDelay } from "./utils/backoffModel.js"
import { captureLogs } from "./utils/logs.js"

const client = (
  handlers: Record<string, TaskHandlerFunction>,
  options: { readonly gracePeriod?: Duration.DurationInput; readonly drainPatience?: Duration.DurationInput } = {}
) =>
  TasksClient.layerWithoutRoutes.pipe(
    Layer.provide(LocalRoute.layerWith({ gracePeriod: "1 second", ...options })),
    Layer.provide(TasksClient.routes),
    Layer.provide(TasksConfig.layerWith({ appEnv: "dev" })),
    Layer.provide(TaskHandlers.layer(handlers))
  )

class Greeting extends Context.Tag("test/Greeting")<Greeting, string>() {}

/** A fiber ref of the enqueuing fiber that a handler reads. */
const Marker = FiberRef.unsafeMake("initial")

/** What a handler saw on one attempt: the clock, and what Cloud Tasks would have sent. */
interface Seen {
  readonly at: number
  readonly context: TaskContextShape
}

/** A handler that records each attempt, then answers with `outcome(attempt)`. */
const recording = (seen: Array<Seen>, outcome: (attempt: number) => Effect.Effect<unknown, unknown>) => () =>
  Effect.gen(function*() {
    seen.push({ at: yield* Clock.currentTimeMillis, context: yield* TaskContext })
    return yield* outcome(seen.length)
  })

/** Drains while moving the TestClock forward `step` at a time, until drain returns. */
const drainAdvancing = (step: Duration.DurationInput = "100 millis") =>
  Effect.gen(function*() {
    const drained = yield* Effect.fork(drain)
    while (drained.unsafePoll() === null) yield* TestClock.adjust(step)
    yield* Fiber.join(drained)
  })

describe("LocalRoute: the in-process queue", () => {
  it.effect("returns before the handler finishes; drain waits for it", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const done: Array<string> = []
      yield* Effect.gen(function*() {
        const info = yield* enqueueHttpTask("/slow", { n: 1 })
        expect(info.route).toBe("local")
        expect(info.name).toMatch(/^local-direct-dispatch\/default\/\d{20}$/)
        expect(done).toEqual([])
        const drained = yield* Effect.fork(drain)
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
        expect(drained.unsafePoll()).toBeNull()
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(drained)
        expect(done).toEqual(["slow"])
      }).pipe(
        Effect.provide(client({ "/slow": () => Deferred.await(gate).pipe(Effect.andThen(() => done.push("slow"))) }))
      )
    }))

  it.effect("each task runs with what its own enqueue had in scope: annotations and services set around one enqueue reach only its task", () =>
    Effect.gen(function*() {
      const seen: Array<[annotation: unknown, greeting: string]> = []
      const observe = () =>
        Effect.gen(function*() {
          const annotations = yield* FiberRef.get(FiberRef.currentLogAnnotations)
          const greeting = yield* Effect.serviceOption(Greeting)
          seen.push([Option.getOrElse(HashMap.get(annotations, "user"), () => "none"), Option.getOrElse(greeting, () => "none")])
        })
      yield* Effect.gen(function*() {
        yield* enqueueHttpTask("/observe", {})
        yield* enqueueHttpTask("/observe", {}).pipe(Effect.annotateLogs("user", "b"))
        yield* enqueueHttpTask("/observe", {}).pipe(Effect.provideService(Greeting, "hello"))
        yield* enqueueHttpTask("/observe", {})
        yield* drain
      }).pipe(Effect.provide(client({ "/observe": observe })))
      expect(seen).toEqual([["none", "none"], ["b", "none"], ["none", "hello"], ["none", "none"]])
    }))

  it.effect("a fiber ref deleted after one enqueue is back to its initial value in the next task", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      yield* Effect.gen(function*() {
        yield* FiberRef.set(Marker, "set")
        yield* enqueueHttpTask("/observe", {})
        yield* FiberRef.delete(Marker)
        yield* enqueueHttpTask("/observe", {})
        yield* drain
      }).pipe(Effect.provide(client({ "/observe": () => Effect.map(FiberRef.get(Marker), (marker) => seen.push(marker)) })))
      expect(seen).toEqual(["set", "initial"])
    }))

  it.live("tasks enqueued from separate runs (an Effect.runPromise per request) run with their own run's annotations", () =>
    Effect.gen(function*() {
      const seen: Array<unknown> = []
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        client({
          "/observe": () =>
            Effect.map(FiberRef.get(FiberRef.currentLogAnnotations), (annotations) =>
              seen.push(Option.getOrElse(HashMap.get(annotations, "request"), () => "none")))
        }),
        scope
      )
      for (const request of ["r1", "r2"]) {
        yield* Effect.promise(() =>
          Effect.runPromise(enqueueHttpTask("/observe", {}).pipe(Effect.annotateLogs("request", request), Effect.provide(context)))
        )
      }
      yield* drain.pipe(Effect.provide(context))
      yield* Scope.close(scope, Exit.void)
      expect(seen).toEqual(["r1", "r2"])
    }))

  it.effect("a failing task is retried by its queue's backoff with what Cloud Tasks would send, then exhausted", () => {
    const { layer, logs } = captureLogs()
    const Fast = defineQueue("fast", { maxAttempts: 3, minBackoff: "1 second", maxBackoff: "10 seconds" })
    const seen: Array<Seen> = []
    return Effect.gen(function*() {
      const info = yield* enqueueHttpTask("/boom", { n: 1 }, { queue: Fast })
      yield* drainAdvancing()
      expect(seen.map(({ at }) => at)).toEqual([0, 1000, 3000])
      const id = info.name.split("/").pop()
      const contexts = seen.map(({ context }) => context)
      expect(contexts.map((c) => c.taskName)).toEqual([Option.some(id), Option.some(id), Option.some(id)])
      expect(contexts.map((c) => c.queueName)).toEqual([Option.some("fast"), Option.some("fast"), Option.some("fast")])
      expect(contexts.map((c) => c.retryCount)).toEqual([Option.some(0), Option.some(1), Option.some(2)])
      // 5xx answers (a failure is answered 500) are not executions.
      expect(contexts.map((c) => c.executionCount)).toEqual([Option.some(0), Option.some(0), Option.some(0)])
      expect(contexts.map((c) => c.previousResponse)).toEqual([Option.none(), Option.some(500), Option.some(500)])
      expect(contexts.map((c) => c.retryReason)).toEqual([Option.none(), Option.some(""), Option.some("")])
      expect(contexts.map((c) => c.eta)).toEqual([0, 1000, 3000].map((at) => Option.some(new Date(at))))
      expect(contexts.map((c) => c.lastAttempt)).toEqual([Option.some(false), Option.some(false), Option.some(true)])

      expect(logs.of(Events.taskFailed).map((entry) => entry.level)).toEqual(["WARN", "WARN", "ERROR"])
      expect(logs.of(Events.taskFailed)[0]?.cause).toContain("kaput")
      expect(logs.of(Events.taskRetrying).map((entry) => entry.annotations.next_attempt)).toEqual([
        new Date(1000).toISOString(),
        new Date(3000).toISOString()
      ])
      expect(logs.of(Events.taskExhausted).map((entry) => [entry.level, entry.annotations.name])).toEqual([["ERROR", info.name]])
      expect(logs.of(Events.taskSucceeded)).toEqual([])
    }).pipe(
      Effect.provide(client({ "/boom": recording(seen, () => Effect.fail(new Error("kaput"))) })),
      Effect.provide(layer)
    )
  })

  it.effect("NonRetryableError drops the task after one attempt; RetryAfterError waits as long as it asks", () => {
    const { layer, logs } = captureLogs()
    const dropped: Array<Seen> = []
    const later: Array<Seen> = []
    return Effect.gen(function*() {
      yield* enqueueHttpTask("/drop", {})
      yield* enqueueHttpTask("/later", {})
      yield* drainAdvancing("1 minute")
      expect(dropped).toHaveLength(1)
      expect(logs.of(Events.taskDropped).map((entry) => entry.level)).toEqual(["ERROR"])
      // It says why, as the task server's `tasks.server.dropped` does.
      expect(logs.of(Events.taskDropped)[0]?.message).toMatch(/ was dropped, not retried: the upload is gone$/)
      // With the handler's error as its cause.
      expect(logs.of(Events.taskDropped)[0]?.cause).toContain("NonRetryableError: the upload is gone")
      // Not the queue's 0.1 s backoff: five minutes, as asked; the retry then succeeds.
      expect(later.map(({ at }) => at)).toEqual([0, 300_000])
      expect(later[1]?.context.previousResponse).toEqual(Option.some(503))
      expect(logs.of(Events.taskSucceeded).map((entry) => entry.annotations.path)).toEqual(["/later"])
    }).pipe(
      Effect.provide(client({
        "/drop": recording(dropped, () => new NonRetryableError({ message: "the upload is gone" })),
        "/later": recording(later, (attempt) => attempt === 1 ? new RetryAfterError({ after: "5 minutes" }) : Effect.void)
      }, { drainPatience: "10 minutes" })),
      Effect.provide(layer)
    )
  })

  it.effect("under the default queue a task that keeps failing ends drain once its next attempt is over 10 s away", () => {
    const { layer, logs } = captureLogs()
    const seen: Array<Seen> = []
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(client({ "/always": recording(seen, () => Effect.fail("no")) }), scope)
      const info = yield* enqueueHttpTask("/always", {}).pipe(Effect.provide(context))
      yield* drainAdvancing().pipe(Effect.provide(context))
      // Cloud Tasks' defaults: 0.1 s doubling; the 8th attempt's successor is 12.8 s away.
      expect(seen.map(({ at }) => at)).toEqual([0, 100, 300, 700, 1500, 3100, 6300, 12700])
      const [gaveUp] = logs.of(Events.drainGaveUp)
      expect(gaveUp?.level).toBe("WARN")
      expect(gaveUp?.annotations).toMatchObject({ name: info.name, attempts: 8 })
      // Only a paused queue (from the dashboard) gives a reason.
      expect(gaveUp?.annotations.reason).toBeUndefined()
      expect(gaveUp?.message).toBe(
        `drain does not wait for ${info.name}: after 8 attempt(s) its next one is due at ${
          new Date(25_500).toISOString()
        }; it stays queued until the layer closes`
      )
      // Not lost: closing the layer says it is left behind, once.
      expect(logs.of(Events.taskAbandoned)).toEqual([])
      yield* Scope.close(scope, Exit.void)
      expect(logs.of(Events.taskAbandoned).map((entry) => [entry.level, entry.message, entry.annotations.attempts])).toEqual([
        ["WARN", `The local route closed before ${info.name} ran to its end (8 attempt(s) made)`, 8]
      ])
      expect(logs.of(Events.taskExhausted)).toEqual([])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a delay or a schedule time holds the task until the clock reaches it", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      yield* Effect.gen(function*() {
        yield* enqueueHttpTask("/later", {}, { delay: "5 seconds" })
        yield* enqueueHttpTask("/later", {}, { scheduleTime: new Date(2000) })
        yield* TestClock.adjust("1 second")
        expect(seen).toEqual([])
        yield* drainAdvancing("1 second")
        expect(seen.map(({ at }) => at)).toEqual([2000, 5000])
        expect(seen.map(({ context }) => context.eta)).toEqual([Option.some(new Date(2000)), Option.some(new Date(5000))])
      }).pipe(Effect.provide(client({ "/later": recording(seen, () => Effect.void) })))
    }))

  it.effect("a task scheduled an hour ahead does not hold drain, and closing the layer logs it as abandoned", () => {
    const { layer, logs } = captureLogs()
    const seen: Array<Seen> = []
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(client({ "/later": recording(seen, () => Effect.void) }), scope)
      const info = yield* enqueueHttpTask("/later", {}, { delay: "1 hour" }).pipe(Effect.provide(context))
      yield* drain.pipe(Effect.provide(context))
      expect(logs.of(Events.drainGaveUp).map((entry) => entry.annotations.name)).toEqual([info.name])
      yield* Scope.close(scope, Exit.void)
      const [abandoned] = logs.of(Events.taskAbandoned)
      expect(abandoned?.level).toBe("WARN")
      expect(abandoned?.annotations).toMatchObject({ name: info.name, attempts: 0 })
      expect(abandoned?.message).toContain("(0 attempt(s) made)")
      expect(seen).toEqual([])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a named task runs once: the same taskId is already_exists while it waits and after it ran", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      yield* Effect.gen(function*() {
        const first = yield* enqueueHttpTask("/once", {}, { taskId: "order-42" })
        expect(first.name).toBe("local-direct-dispatch/default/order-42")
        const again = yield* Effect.flip(enqueueHttpTask("/once", {}, { taskId: "order-42" }))
        expect(again).toMatchObject({ _tag: "DispatchError", reason: "already_exists", route: "local" })
        yield* drain
        const after = yield* Effect.flip(enqueueHttpTask("/once", {}, { taskId: "order-42" }))
        expect(after).toMatchObject({ reason: "already_exists" })
        expect(seen).toHaveLength(1)
      }).pipe(Effect.provide(client({ "/once": recording(seen, () => Effect.void) })))
    }))

  it.effect("cancelTask drops a scheduled or retrying task; a running attempt ends with no retry after it", () => {
    const { layer, logs } = captureLogs()
    const scheduled: Array<Seen> = []
    const retrying: Array<Seen> = []
    const running: Array<Seen> = []
    return Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      yield* Effect.gen(function*() {
        const a = yield* enqueueHttpTask("/scheduled", {}, { delay: "1 minute" })
        yield* cancelTask(a.name)
        expect(yield* Effect.flip(cancelTask(a.name))).toMatchObject({ _tag: "CancelError", reason: "not_found" })

        const b = yield* enqueueHttpTask("/retrying", {})
        yield* TestClock.adjust("50 millis")
        expect(retrying).toHaveLength(1)
        yield* cancelTask(b.name)

        const c = yield* enqueueHttpTask("/running", {})
        while (running.length === 0) yield* TestClock.adjust("10 millis")
        yield* cancelTask(c.name)
        yield* Deferred.succeed(gate, undefined)

        yield* drainAdvancing("1 minute")
        expect(scheduled).toEqual([])
        expect(retrying).toHaveLength(1)
        expect(running).toHaveLength(1)
        expect(logs.of(Events.taskCancelled).map((entry) => entry.annotations.name)).toEqual([a.name, b.name, c.name])
        // The running attempt's end is still logged (it failed); nothing follows it.
        expect(logs.entries.filter((entry) => entry.annotations.name === c.name).map((entry) => [entry.level, entry.annotations.event]))
          .toEqual([
            ["DEBUG", Events.dispatch],
            ["DEBUG", Events.taskAttempt],
            ["INFO", Events.taskCancelled],
            ["WARN", Events.taskFailed]
          ])
        expect(yield* Effect.flip(cancelTask("local-direct-dispatch/nope"))).toMatchObject({ reason: "invalid_name" })
      }).pipe(
        Effect.provide(client({
          "/scheduled": recording(scheduled, () => Effect.void),
          "/retrying": recording(retrying, () => Effect.fail("again")),
          "/running": recording(running, () => Deferred.await(gate).pipe(Effect.zipRight(Effect.fail("late"))))
        }))
      )
    }).pipe(Effect.provide(layer))
  })

  it.effect("a task that has just ended is not_found by a cancel from the handler whose attempt its end started", () =>
    Effect.gen(function*() {
      const One = defineQueue("one-at-a-time", { maxConcurrentDispatches: 1 })
      const gate = yield* Deferred.make<void>()
      let cancelFirst: Effect.Effect<void, unknown> = Effect.void
      const cancelled: Array<Either.Either<void, unknown>> = []
      yield* Effect.gen(function*() {
        const first = yield* enqueueHttpTask("/first", {}, { queue: One })
        cancelFirst = cancelTask(first.name).pipe(Effect.provideService(TasksClient, yield* TasksClient))
        yield* enqueueHttpTask("/second", {}, { queue: One })
        yield* Effect.yieldNow() // the first attempt starts; the second waits for it
        yield* Deferred.succeed(gate, undefined)
        yield* drain
      }).pipe(Effect.provide(client({
        "/first": () => Deferred.await(gate),
        // Starts as the first task ends, before the route hears of that end.
        "/second": () => Effect.map(Effect.either(Effect.suspend(() => cancelFirst)), (result) => cancelled.push(result))
      })))
      expect(cancelled).toMatchObject([{ _tag: "Left", left: { _tag: "CancelError", reason: "not_found" } }])
    }))

  it.effect("a defined queue's concurrency and rate limits hold in-process", () =>
    Effect.gen(function*() {
      const One = defineQueue("one-at-a-time", { maxConcurrentDispatches: 1 })
      const Slow = defineQueue("two-per-second", { maxDispatchesPerSecond: 2 })
      let inFlight = 0
      let most = 0
      const order: Array<number> = []
      const paced: Array<Seen> = []
      yield* Effect.gen(function*() {
        for (let n = 0; n < 4; n++) yield* enqueueHttpTask("/one", { n }, { queue: One })
        for (let n = 0; n < 3; n++) yield* enqueueHttpTask("/paced", { n }, { queue: Slow })
        yield* drainAdvancing("50 millis")
        expect(most).toBe(1)
        expect(order).toEqual([0, 1, 2, 3])
        // Rate 2/s: a burst of one token, then one every 0.5 s.
        expect(paced.map(({ at }) => at)).toEqual([0, 500, 1000])
      }).pipe(Effect.provide(client({
        "/one": (payload) =>
          Effect.gen(function*() {
            most = Math.max(most, ++inFlight)
            yield* Effect.sleep("100 millis")
            order.push((payload as { n: number }).n)
            inFlight--
          }),
        "/paced": recording(paced, () => Effect.void)
      })))
    }))

  it.effect("a path with no handler is a DispatchError no_handler; nothing runs", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(enqueueHttpTask("/missing", {}))
      expect(error).toMatchObject({ _tag: "DispatchError", reason: "no_handler", route: "local", path: "/missing" })
    }).pipe(Effect.provide(client({ "/other": () => Effect.void }))))

  it.live("closing the layer runs the accepted tasks within the grace period", () =>
    Effect.gen(function*() {
      const finished: Array<string> = []
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        client({ "/t": () => Effect.sleep("100 millis").pipe(Effect.andThen(() => finished.push("t"))) }, {
          gracePeriod: "1 minute"
        }),
        scope
      )
      yield* enqueueHttpTask("/t", {}).pipe(Effect.provide(context))
      yield* Scope.close(scope, Exit.void)
      expect(finished).toEqual(["t"])
    }))

  it.live("past the grace period, closing interrupts what runs and logs each task_interrupted", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(client({ "/stuck": () => Effect.never }, { gracePeriod: "50 millis" }), scope)
      yield* enqueueHttpTask("/stuck", {}).pipe(Effect.provide(context))
      yield* enqueueHttpTask("/stuck", {}).pipe(Effect.provide(context), Effect.annotateLogs("requestId", "r-42"))
      yield* Scope.close(scope, Exit.void)
      const interrupted = logs.of(Events.taskInterrupted)
      // Each is logged as its task would have logged it, with the enqueuer's annotations.
      expect(interrupted.map((entry) => entry.annotations.requestId)).toEqual([undefined, "r-42"])
      expect(interrupted.map((entry) => [entry.level, entry.message])[0]).toEqual(["WARN", "In-process task interrupted"])
      // The close summary is an event of its own, with the count; nothing is also logged as abandoned.
      expect(logs.of(Events.closeTimedOut).map((entry) => entry.annotations.count)).toEqual([2])
      // It says how long closing waited: the grace period.
      expect(logs.of(Events.closeTimedOut)[0]?.message).toContain("still running after 50ms")
      expect(logs.of(Events.taskAbandoned)).toEqual([])
    }).pipe(Effect.provide(layer))
  })

  it.live("a task cancelled while its attempt runs ends as cancelled only: closing interrupts the attempt without logging it again", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      const started = yield* Deferred.make<void>()
      const context = yield* Layer.buildWithScope(
        client({ "/stuck": () => Deferred.succeed(started, undefined).pipe(Effect.zipRight(Effect.never)) }, { gracePeriod: "50 millis" }),
        scope
      )
      const info = yield* enqueueHttpTask("/stuck", {}).pipe(Effect.provide(context))
      yield* Deferred.await(started)
      yield* cancelTask(info.name).pipe(Effect.provide(context))
      yield* Scope.close(scope, Exit.void)
      expect(logs.of(Events.taskCancelled).map((entry) => entry.annotations.name)).toEqual([info.name])
      expect(logs.of(Events.taskInterrupted)).toEqual([])
      expect(logs.of(Events.closeTimedOut).map((entry) => entry.annotations.count)).toEqual([1])
    }).pipe(Effect.provide(layer))
  })

  it.live("a handler that interrupts itself is an attempt that failed, with its cause, and is retried", () => {
    const { layer, logs } = captureLogs()
    const Once = defineQueue("once", { maxAttempts: 1 })
    return Effect.gen(function*() {
      yield* enqueueHttpTask("/quits", {}, { queue: Once })
      yield* drain
      const [failed] = logs.of(Events.taskFailed)
      expect(failed?.level).toBe("ERROR")
      expect(failed?.cause).toContain("interrupted")
      expect(logs.of(Events.taskExhausted)).toHaveLength(1)
      expect(logs.of(Events.taskInterrupted)).toEqual([])
    }).pipe(Effect.provide(client({ "/quits": () => Effect.interrupt })), Effect.provide(layer))
  })

  it.live("a rate-limited queue runs its tasks while more keep coming (its wake-up is not starved by the enqueuing fibers)", () => {
    // The queue's wake-up ran on setImmediate, which never ran while the enqueuing fibers kept
    // the event loop in its timers phase: a defined queue ran nothing until the stream stopped
    // (the reliability suite saw none of its tasks in defined queues finish).
    const Limited = defineQueue("limited", { maxDispatchesPerSecond: 500 })
    let ran = 0
    let enqueued = 0
    return Effect.gen(function*() {
      while (ran === 0 && enqueued < 30_000) {
        yield* Effect.forEach(Array.from({ length: 16 }), () => enqueueHttpTask("/limited", {}, { queue: Limited }), {
          concurrency: 16,
          discard: true
        })
        enqueued += 16
      }
      expect(ran).toBeGreaterThan(0)
    }).pipe(Effect.provide(client({ "/limited": () => Effect.sync(() => ran++) }, { gracePeriod: 0 })))
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
        }, { gracePeriod: "5 seconds" }),
        scope
      )
      yield* enqueueHttpTask("/slow", {}).pipe(Effect.provide(context))
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Effect.sleep("50 millis") // closing now waits for /slow within its grace period
      const refused = yield* Effect.flip(enqueueHttpTask("/late", {}).pipe(Effect.provide(context)))
      expect(refused).toMatchObject({
        _tag: "DispatchError",
        reason: "shutting_down",
        route: "local",
        path: "/late",
        message: "The local route is closing; the task for /late was not started"
      })
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

describe("the in-process queue against the backoff model", () => {
  it.effect.prop(
    "attempt times and every TaskContext value (ETA, counts, previous response, retry reason, last attempt) follow the model for any retry settings",
    {
      settings: fc.record({
        minBackoff: fc.integer({ min: 1, max: 2000 }),
        extra: fc.integer({ min: 0, max: 20_000 }),
        maxDoublings: fc.integer({ min: 0, max: 5 }),
        maxAttempts: fc.integer({ min: 1, max: 7 })
      })
    },
    ({ settings: { extra, maxAttempts, maxDoublings, minBackoff } }) =>
      Effect.gen(function*() {
        const maxBackoff = minBackoff + extra
        const queue = defineQueue("model", {
          maxAttempts,
          maxDoublings,
          minBackoff: Duration.millis(minBackoff),
          maxBackoff: Duration.millis(maxBackoff)
        })
        const seen: Array<Seen> = []
        yield* Effect.gen(function*() {
          yield* enqueueHttpTask("/fail", {}, { queue })
          const drained = yield* Effect.fork(drain)
          while (drained.unsafePoll() === null) yield* TestClock.adjust(Duration.millis(Math.ceil(minBackoff / 4)))
        }).pipe(Effect.provide(client({ "/fail": recording(seen, () => Effect.fail("no")) }, { drainPatience: "1 hour" })))
        // The TestClock moves in steps: each retry comes at its due time, or within one step after it.
        const step = Math.ceil(minBackoff / 4)
        expect(seen).toHaveLength(maxAttempts)
        expect(seen[0]?.at).toBe(0)
        seen.forEach(({ at, context }, k) => {
          // The attempt is due when the previous one ended plus the model's delay: its ETA.
          const due = k === 0 ? 0 : seen[k - 1]!.at + modelDelay(minBackoff, maxBackoff, maxDoublings, k)
          expect(at).toBeGreaterThanOrEqual(due)
          expect(at).toBeLessThanOrEqual(due + step)
          expect(context.eta).toEqual(Option.some(new Date(due)))
          expect(context.retryCount).toEqual(Option.some(k))
          // Headers as Cloud Tasks sends them after 500s: a 5xx is not an execution.
          expect(context.executionCount).toEqual(Option.some(0))
          expect(context.previousResponse).toEqual(k === 0 ? Option.none() : Option.some(500))
          // HTTP targets get the header empty on a retry, absent on the first attempt.
          expect(context.retryReason).toEqual(k === 0 ? Option.none() : Option.some(""))
          expect(context.lastAttempt).toEqual(Option.some(k === maxAttempts - 1))
        })
      }),
    { fastCheck: { numRuns: 20 } }
  )
})

describe("LocalRoute: what a user reads", () => {
  it.effect("each step of a task's life is one event, at its level, with a message that says what happened", () => {
    const { layer, logs } = captureLogs()
    const Thrice = defineQueue("thrice", { maxAttempts: 3, minBackoff: "1 second", maxBackoff: "10 seconds" })
    return Effect.gen(function*() {
      const boom = yield* enqueueHttpTask("/boom", {}, { queue: Thrice })
      const drop = yield* enqueueHttpTask("/drop", {})
      const ok = yield* enqueueHttpTask("/ok", {})
      yield* drainAdvancing()
      const of = (event: string) => logs.of(event).map((entry) => [entry.level, entry.message, entry.annotations.name])
      expect(of(Events.dispatch)).toEqual([boom, drop, ok].map(({ name }) => ["DEBUG", "Task dispatched to the in-process queue", name]))
      expect(logs.of(Events.taskAttempt).filter((entry) => entry.annotations.name === boom.name).map((entry) => [
        entry.level,
        entry.message,
        entry.annotations.attempt
      ])).toEqual([1, 2, 3].map((n) => ["DEBUG", `Attempt ${n} of ${boom.name}`, n]))
      expect(logs.of(Events.taskFailed).map((entry) => [entry.level, entry.message, entry.annotations.attempt, entry.annotations.status]))
        .toEqual([
          ["WARN", "In-process task failed (attempt 1, answered 500 as the task server would)", 1, 500],
          ["WARN", "In-process task failed (attempt 2, answered 500 as the task server would)", 2, 500],
          ["ERROR", "In-process task failed (attempt 3, answered 500 as the task server would)", 3, 500]
        ])
      expect(logs.of(Events.taskRetrying).map((entry) => [entry.level, entry.message, entry.annotations.attempts])).toEqual([
        ["INFO", `Retrying ${boom.name} in 1s, as its queue's backoff says`, 1],
        ["INFO", `Retrying ${boom.name} in 2s, as its queue's backoff says`, 2]
      ])
      expect(logs.of(Events.taskExhausted).map((entry) => [entry.level, entry.message, entry.annotations.attempts])).toEqual([
        ["ERROR", `${boom.name} failed 3 time(s): its queue allows no more retries`, 3]
      ])
      expect(of(Events.taskDropped)).toEqual([["ERROR", `${drop.name} was dropped, not retried: gone`, drop.name]])
      expect(of(Events.taskSucceeded)).toEqual([["INFO", "In-process task succeeded", ok.name]])
      expect(logs.of(Events.taskSucceeded)[0]?.annotations).toMatchObject({ path: "/ok", route: "local", attempts: 1 })
    }).pipe(
      Effect.provide(client({
        "/boom": () => Effect.fail("no"),
        "/drop": () => new NonRetryableError({ message: "gone" }),
        "/ok": () => Effect.void
      })),
      Effect.provide(layer)
    )
  })

  it.effect("refusals: no handler, a task ID taken, a name that is not an in-process task's", () => {
    const { layer, logs } = captureLogs()
    // Without TaskHandlers the client lets every path through: the local route is the one to refuse.
    const noHandlers = TasksClient.layerWithoutRoutes.pipe(
      Layer.provide(LocalRoute.layer),
      Layer.provide(TasksClient.routes),
      Layer.provide(TasksConfig.layerWith({ appEnv: "dev" }))
    )
    return Effect.gen(function*() {
      expect(yield* Effect.flip(enqueueHttpTask("/none", {}).pipe(Effect.provide(noHandlers)))).toMatchObject({
        reason: "no_handler",
        message: "No in-process handler is registered for /none: provide TaskHandlers to the client's layer"
      })
      expect(logs.of(Events.handlerMissing).map((entry) => [entry.level, entry.annotations.reason, entry.annotations.route]))
        .toEqual([["ERROR", "no_handler", "local"]])
      yield* enqueueHttpTask("/ok", {}, { taskId: "t-1" })
      expect(yield* Effect.flip(enqueueHttpTask("/ok", {}, { taskId: "t-1" }))).toMatchObject({
        reason: "already_exists",
        message: "A task named t-1 already exists or ran recently"
      })
      expect(logs.of(Events.createTaskFailed).map((entry) => [entry.level, entry.annotations.reason, entry.annotations.route]))
        .toEqual([["ERROR", "already_exists", "local"]])
      // A payload within the client's limit, its task with the name, URL and headers over Cloud Tasks' limit.
      expect(yield* Effect.flip(enqueueHttpTask("/ok", "x".repeat(1_048_560)))).toMatchObject({
        _tag: "DispatchError",
        reason: "payload_too_large",
        route: "local",
        message: "The task for /ok, with its name, URL and headers, would be over the 1048569 bytes Cloud Tasks accepts"
      })
      expect(logs.of(Events.createTaskFailed).map((entry) => entry.annotations.reason)).toEqual(["already_exists", "payload_too_large"])
      for (
        const name of [
          "local-direct-dispatch/default",
          "local-direct-dispatch/bad_queue/1",
          "local-direct-dispatch/default/bad id",
          "local-direct-dispatch/default/1/2"
        ]
      ) {
        expect(yield* Effect.flip(cancelTask(name)), name).toMatchObject({
          reason: "invalid_name",
          message: `${name} is not the name of an in-process task`
        })
      }
      // The route's own cancel, given another route's name.
      const other = "dev-worker-dispatch/default/1"
      const route = LocalRoute.layerWith().pipe(Layer.provide(TasksConfig.layerWith({ appEnv: "dev" })))
      expect(yield* Effect.flip(Effect.flatMap(LocalRoute, (local) => local.cancel(other)).pipe(Effect.provide(route)))).toMatchObject({
        reason: "invalid_name",
        message: `${other} is not the name of an in-process task`
      })
      const unknown = "local-direct-dispatch/other-queue/x1"
      expect(yield* Effect.flip(cancelTask(unknown))).toMatchObject({
        reason: "not_found",
        message: `No in-process task ${unknown} is waiting to run`
      })
      const later = yield* enqueueHttpTask("/ok", {}, { delay: "1 minute" })
      yield* cancelTask(later.name)
      expect(logs.of(Events.taskCancelled).map((entry) => [entry.level, entry.message])).toEqual([
        ["INFO", `${later.name} was cancelled`]
      ])
    }).pipe(Effect.provide(client({ "/ok": () => Effect.void })), Effect.provide(layer))
  })
})

describe("LocalRoute: what drain waits for", () => {
  it.effect("a retry due exactly drainPatience away is waited for; one a millisecond further is not", () => {
    const { layer, logs } = captureLogs()
    const Patient = defineQueue("patient", { maxAttempts: 3, minBackoff: "1 second", maxBackoff: "1 second" })
    const Impatient = defineQueue("impatient", { maxAttempts: 3, minBackoff: "1001 millis", maxBackoff: "1001 millis" })
    const patient: Array<Seen> = []
    const impatient: Array<Seen> = []
    return Effect.gen(function*() {
      yield* enqueueHttpTask("/patient", {}, { queue: Patient })
      yield* drainAdvancing()
      expect(patient.map(({ at }) => at)).toEqual([0, 1000, 2000])
      expect(logs.of(Events.drainGaveUp)).toEqual([])
      const start = yield* Clock.currentTimeMillis
      const info = yield* enqueueHttpTask("/impatient", {}, { queue: Impatient })
      yield* drain
      expect(impatient.map(({ at }) => at)).toEqual([start])
      expect(logs.of(Events.drainGaveUp).map((entry) => entry.message)).toEqual([
        `drain does not wait for ${info.name}: after 1 attempt(s) its next one is due at ${
          new Date(start + 1001).toISOString()
        }; it stays queued until the layer closes`
      ])
    }).pipe(
      Effect.provide(client({
        "/patient": recording(patient, () => Effect.fail("no")),
        "/impatient": recording(impatient, () => Effect.fail("no"))
      }, { drainPatience: "1 second" })),
      Effect.provide(layer)
    )
  })

  it.effect("a drain reports only the tasks it waited for: one enqueued after it began is another drain's", () => {
    const { layer, logs } = captureLogs()
    const later: Array<Seen> = []
    return Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      yield* Effect.gen(function*() {
        yield* enqueueHttpTask("/gated", {})
        const drained = yield* Effect.fork(drain)
        yield* Effect.yieldNow() // the drain begins
        const info = yield* enqueueHttpTask("/later", {})
        // Its first attempt ends while the drain waits for /gated: its retry is an hour away.
        for (let i = 0; i < 100 && later.length === 0; i++) yield* Effect.yieldNow()
        expect(later).toHaveLength(1)
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(drained)
        expect(logs.of(Events.drainGaveUp)).toEqual([])
        // A drain that waits for it says it does not.
        yield* drain
        expect(logs.of(Events.drainGaveUp).map((entry) => entry.annotations.name)).toEqual([info.name])
      }).pipe(Effect.provide(client({
        "/gated": () => Deferred.await(gate),
        "/later": recording(later, () => new RetryAfterError({ after: "1 hour" }))
      })))
    }).pipe(Effect.provide(layer))
  })
})

describe("LocalRoute: queues without settings, and closing", () => {
  it.effect("the default queue and a queue defined without settings are not rate-limited: a burst beyond Cloud Tasks' 100 runs at once", () => {
    const Plain = defineQueue("plain")
    const seen: Array<Seen> = []
    return Effect.gen(function*() {
      for (let n = 0; n < 150; n++) {
        yield* enqueueHttpTask("/t", {})
        yield* enqueueHttpTask("/t", {}, { queue: Plain })
      }
      yield* drainAdvancing("1 millis")
      expect(seen).toHaveLength(300)
      expect(seen.filter(({ at }) => at !== 0)).toEqual([])
    }).pipe(Effect.provide(client({ "/t": recording(seen, () => Effect.void) })))
  })

  it.effect("past the grace period no attempt starts: a task falling due while closing interrupts the others is left abandoned", () => {
    const { layer, logs } = captureLogs()
    const ran: Array<number> = []
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        client({
          // Interrupted at the end of the grace period, it takes a second to stop.
          "/stuck": () => Effect.never.pipe(Effect.onInterrupt(() => Effect.sleep("1 second"))),
          "/later": () => Effect.map(Clock.currentTimeMillis, (at) => ran.push(at))
        }, { gracePeriod: "1 second" }),
        scope
      )
      yield* enqueueHttpTask("/stuck", {}).pipe(Effect.provide(context))
      const later = yield* enqueueHttpTask("/later", {}, { delay: "1500 millis" }).pipe(Effect.provide(context))
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("1 second")
      expect(logs.of(Events.closeTimedOut).map((entry) => entry.annotations.count)).toEqual([1])
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(closing)
      expect(ran).toEqual([])
      expect(logs.of(Events.taskAbandoned).map((entry) => [entry.level, entry.message])).toEqual([
        ["WARN", `The local route closed before ${later.name} ran to its end (0 attempt(s) made)`]
      ])
    }).pipe(Effect.provide(layer))
  })
})

describe("LocalRoute: deadlines and names", () => {
  it.effect("an attempt past its dispatch deadline (10 minutes unless set) is aborted and retried; TASKS_QUEUE names the default queue", () => {
    const { layer: logLayer, logs } = captureLogs()
    const Twice = defineQueue("twice", { maxAttempts: 2, minBackoff: "1 second", maxBackoff: "1 second" })
    const starts: Record<string, Array<number>> = { "/slow": [], "/slower": [] }
    const stops: Array<number> = []
    /** Notes when each attempt starts, then runs for an hour unless stopped (and notes when). */
    const slow = (path: string) => () =>
      Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.zipRight(Effect.sync(() => starts[path]!.push(at)), Effect.sleep("1 hour")))
        .pipe(Effect.onInterrupt(() => Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.sync(() => stops.push(at)))))
    const layer = TasksClient.layerWithoutRoutes.pipe(
      Layer.provide(LocalRoute.layerWith({ gracePeriod: "1 second", drainPatience: "1 hour" })),
      Layer.provide(TasksClient.routes),
      Layer.provide(TasksConfig.layerWith({ appEnv: "dev", project: "p", location: "l", queue: "jobs" })),
      Layer.provide(TaskHandlers.layer({
        "/slow": slow("/slow"),
        "/slower": slow("/slower"),
        "/quick": () => Effect.void
      }))
    )
    return Effect.gen(function*() {
      const quick = yield* enqueueHttpTask("/quick", {})
      expect(quick.name).toMatch(/^local-direct-dispatch\/jobs\/\d{20}$/)
      yield* enqueueHttpTask("/slow", {}, { queue: Twice })
      yield* enqueueHttpTask("/slower", {}, { queue: Twice, dispatchDeadline: "15 minutes" })
      yield* drainAdvancing("1 second")
      expect(starts).toEqual({ "/slow": [0, 601_000], "/slower": [0, 901_000] })
      // Each attempt is stopped at its deadline; an aborted attempt is not also reported as failed.
      expect(stops.sort((a, b) => a - b)).toEqual([600_000, 900_000, 1_201_000, 1_801_000])
      expect(logs.of(Events.taskFailed)).toEqual([])
    }).pipe(Effect.provide(layer), Effect.provide(logLayer))
  })
})

describe("LocalRoute: what each task runs with", () => {
  it.effect("a task enqueued in an uninterruptible region still runs interruptibly: each attempt is stopped at its deadline", () => {
    const Twice = defineQueue("twice", { maxAttempts: 2, minBackoff: "1 second", maxBackoff: "1 second" })
    const starts: Array<number> = []
    const stops: Array<number> = []
    const now = Clock.currentTimeMillis
    return Effect.gen(function*() {
      // As from an acquireRelease's acquire or a finalizer: the enqueuing fiber cannot be interrupted there.
      yield* Effect.uninterruptible(enqueueHttpTask("/slow", {}, { queue: Twice, dispatchDeadline: "15 minutes" }))
      yield* drainAdvancing("1 minute")
      // Whatever still ran would end by now.
      yield* TestClock.adjust("2 hours")
      expect(starts).toEqual([0, 901_000])
      expect(stops).toEqual([900_000, 1_801_000])
    }).pipe(Effect.provide(client({
      "/slow": () =>
        Effect.flatMap(now, (at) => Effect.zipRight(Effect.sync(() => starts.push(at)), Effect.sleep("1 hour")))
          .pipe(Effect.onInterrupt(() => Effect.flatMap(now, (at) => Effect.sync(() => stops.push(at)))))
    }, { drainPatience: "1 hour" })))
  })

  it.effect("each task runs with its own caller's services and log annotations, whoever enqueued before", () => {
    const { layer, logs } = captureLogs()
    const seen: Array<string> = []
    return Effect.gen(function*() {
      for (const who of ["alice", "bob", "alice"]) {
        yield* enqueueHttpTask("/greet", {}).pipe(
          Effect.provideService(Greeting, who),
          Effect.annotateLogs("caller", who)
        )
      }
      yield* drain
      expect(seen).toEqual(["alice", "bob", "alice"])
      expect(logs.of(Events.taskSucceeded).map((entry) => entry.annotations.caller)).toEqual(["alice", "bob", "alice"])
    }).pipe(Effect.provide(client({
      "/greet": () => Effect.map(Effect.serviceOption(Greeting), (who) => seen.push(Option.getOrElse(who, () => "nobody")))
    })), Effect.provide(layer))
  })

  it.effect("each task runs with its own caller's runtime flags, though nothing else in scope differs", () => {
    const seen: Array<boolean> = []
    return Effect.gen(function*() {
      const eager = Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.disable(RuntimeFlags.CooperativeYielding))
      yield* enqueueHttpTask("/flags", {})
      yield* eager(enqueueHttpTask("/flags", {}))
      yield* enqueueHttpTask("/flags", {})
      yield* drain
      expect(seen).toEqual([true, false, true])
    }).pipe(Effect.provide(client({
      "/flags": () => Effect.map(Effect.getRuntimeFlags, (flags) => seen.push(RuntimeFlags.cooperativeYielding(flags)))
    })))
  })
})

describe("LocalRoute: a long-running queue", () => {
  it.effect("tasks waiting their turn keep their place while a thousand others pass through: cancel finds one, drain runs the other", () => {
    const { layer, logs } = captureLogs()
    const waited: Array<Seen> = []
    let quick = 0
    return Effect.gen(function*() {
      const cancelled = yield* enqueueHttpTask("/waits", {}, { delay: "5 seconds" })
      const kept = yield* enqueueHttpTask("/waits", {}, { delay: "5 seconds" })
      yield* Effect.forEach(Array.from({ length: 1000 }), () => enqueueHttpTask("/quick", {}), { discard: true })
      while (quick < 1000) yield* TestClock.adjust("10 millis")
      yield* cancelTask(cancelled.name)
      yield* drainAdvancing("1 second")
      expect(waited.map(({ at, context }) => [at, context.taskName])).toEqual([[5000, Option.some(kept.name.split("/")[2])]])
      expect(logs.of(Events.taskCancelled).map((entry) => entry.annotations.name)).toEqual([cancelled.name])
      expect(logs.of(Events.taskSucceeded)).toHaveLength(1001)
    }).pipe(
      Effect.provide(client({
        "/waits": recording(waited, () => Effect.void),
        "/quick": () => Effect.sync(() => quick++)
      })),
      Effect.provide(layer)
    )
  })
})
