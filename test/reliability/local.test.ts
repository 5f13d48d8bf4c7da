/**
 * The local route (the in-process queue) under many tasks whose handlers succeed, fail,
 * die (defects), drop, succeed on a retry, run slowly, never finish, or are scheduled an
 * hour ahead; some are cancelled, and the layer is closed while tasks are still being
 * enqueued. Invariants: no enqueue dies; a task is either refused (a `DispatchError`
 * `shutting_down`, once closing has begun) or accepted, and every accepted task is
 * accounted for by exactly one outcome event: succeeded, dropped, exhausted, cancelled,
 * interrupted (running past the grace period) or abandoned (waiting when the layer closed).
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, HashMap, Layer, Logger, LogLevel, Option, Scope } from "effect"
import {
  cancelTask,
  defineQueue,
  enqueueHttpTask,
  type EnqueueOptions,
  Events,
  LocalRoute,
  NonRetryableError,
  TaskHandlers,
  TasksClient,
  TasksConfig
} from "../../src/index.js"
import { TaskContext } from "../../src/TaskContext.js"
import { report, size } from "./report.js"

/** The events that end a task, one per accepted task. */
const outcomes = [
  Events.taskSucceeded,
  Events.taskDropped,
  Events.taskExhausted,
  Events.taskCancelled,
  Events.taskInterrupted,
  Events.taskAbandoned
] as const

// Short backoffs and high limits (Cloud Tasks allows at most 500 dispatches per second per queue).
const retrying = { maxAttempts: 2, minBackoff: "5 millis", maxBackoff: "20 millis", maxDispatchesPerSecond: 500, maxConcurrentDispatches: 5000 } as const
const Failing = defineQueue("failing", retrying)
const Dying = defineQueue("dying", retrying)
const Flaky = defineQueue("flaky", retrying)

type Kind = "ok" | "slow" | "stuck" | "fail" | "die" | "flaky" | "drop" | "later"

/** The mix of handlers: mostly quick successes, every kind present. */
const kindOf = (i: number): Kind => {
  const k = i % 100
  return k < 55 ? "ok" : k < 70 ? "slow" : k < 71 ? "stuck" : k < 76 ? "fail" : k < 80 ? "die" : k < 85 ? "flaky" : k < 92 ? "drop" : "later"
}

const handlers = TaskHandlers.layer({
  "/ok": () => Effect.void,
  "/slow": (payload) => Effect.sleep((payload as { ms: number }).ms),
  "/stuck": () => Effect.never,
  "/fail": () => Effect.fail(new Error("the handler failed")),
  "/die": () => Effect.die(new Error("the handler died")),
  "/flaky": () =>
    Effect.flatMap(TaskContext, (context) =>
      Option.getOrElse(context.retryCount, () => 0) === 0 ? Effect.fail(new Error("first attempt fails")) : Effect.void),
  "/drop": () => Effect.fail(new NonRetryableError({ message: "not worth retrying" })),
  "/later": () => Effect.void
})

const options = (kind: Kind): EnqueueOptions =>
  kind === "fail"
    ? { queue: Failing }
    : kind === "die"
    ? { queue: Dying }
    : kind === "flaky"
    ? { queue: Flaky }
    : kind === "later"
    ? { delay: "1 hour" }
    : {}

describe("reliability: the local route under many tasks, closed mid-way", () => {
  it.live("every accepted task ends in exactly one outcome event; every other one is refused", () =>
    Effect.gen(function*() {
      const count = size(2_000, 50_000)
      // Each outcome event, by task name; and every refusal.
      const ended = new Map<string, Array<string>>()
      let refusedEvents = 0
      let closeTimedOut = 0
      const logger = Logger.make(({ annotations }) => {
        const event = Option.getOrUndefined(HashMap.get(annotations, "event"))
        if (event === Events.taskRefused) return void refusedEvents++
        if (event === Events.closeTimedOut) return void closeTimedOut++
        if (!outcomes.includes(event as (typeof outcomes)[number])) return
        const name = String(Option.getOrUndefined(HashMap.get(annotations, "name")))
        const list = ended.get(name) ?? []
        list.push(event as string)
        ended.set(name, list)
      })
      const logs = Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.Info))

      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        TasksClient.layerWithoutRoutes.pipe(
          Layer.provide(LocalRoute.layerWith({ gracePeriod: size("1 second", "3 seconds") })),
          Layer.provide(TasksClient.routes),
          Layer.provide(TasksConfig.layerWith({ appEnv: "dev" })),
          Layer.provide(handlers)
        ),
        scope
      ).pipe(Effect.provide(logs))

      const accepted: Array<{ readonly name: string; readonly kind: Kind }> = []
      const stuck: Array<string> = []
      const later: Array<string> = []
      let refused = 0
      const defects: Array<string> = []
      let closeStarted = false
      let closing: Fiber.RuntimeFiber<void> | undefined
      const started = performance.now()
      let closedAt = 0

      const enqueue = (i: number) => {
        const kind = kindOf(i)
        return enqueueHttpTask(`/${kind}`, { i, ms: 5 + (i % 7) * 20 }, options(kind)).pipe(
          Effect.exit,
          Effect.flatMap((exit) => {
            if (Exit.isSuccess(exit)) {
              accepted.push({ name: exit.value.name, kind })
              if (kind === "stuck") stuck.push(exit.value.name)
              if (kind === "later") later.push(exit.value.name)
            } else if (Cause.isFailType(exit.cause) && exit.cause.error._tag === "DispatchError" && exit.cause.error.reason === "shutting_down") {
              refused++
            } else {
              defects.push(Cause.pretty(exit.cause))
            }
            if (closeStarted || accepted.length < count / 2) return Effect.void
            closeStarted = true
            // Half-way: cancel some tasks (a third of those scheduled an hour ahead, half of
            // those running forever), then close the layer while enqueueing goes on.
            const close = Effect.gen(function*() {
              for (const name of [...later.filter((_, k) => k % 3 === 0), ...stuck.filter((_, k) => k % 2 === 0)]) {
                yield* cancelTask(name).pipe(Effect.orDie)
              }
              closedAt = performance.now()
              yield* Scope.close(scope, Exit.void)
            }).pipe(Effect.provide(context), Effect.provide(logs))
            return Effect.map(Effect.fork(close), (fiber) => {
              closing = fiber
            })
          })
        )
      }
      yield* Effect.forEach(Array.from({ length: count }, (_, i) => i), enqueue, { concurrency: 16, discard: true }).pipe(
        Effect.provide(context),
        Effect.provide(logs)
      )
      // Closing is over when the scope's finalizers have run.
      if (closing !== undefined) yield* Fiber.join(closing)
      const closed = performance.now()

      expect(defects).toEqual([])
      expect(accepted.length + refused).toBe(count)
      expect(refused).toBeGreaterThan(0)
      expect(refusedEvents).toBe(refused)
      const names = new Set(accepted.map(({ name }) => name))
      expect(names.size).toBe(accepted.length)
      const lost = accepted.filter(({ name }) => !ended.has(name))
      const twice = [...ended].filter(([, events]) => events.length > 1)
      const strangers = [...ended.keys()].filter((name) => !names.has(name))
      expect(lost.slice(0, 5)).toEqual([])
      expect(twice.slice(0, 5)).toEqual([])
      expect(strangers.slice(0, 5)).toEqual([])

      // Each kind ends as it can: a success never ends as exhausted, a failure never as succeeded.
      const possible: Record<Kind, ReadonlyArray<string>> = {
        ok: [Events.taskSucceeded, Events.taskAbandoned, Events.taskInterrupted],
        slow: [Events.taskSucceeded, Events.taskAbandoned, Events.taskInterrupted],
        stuck: [Events.taskCancelled, Events.taskInterrupted, Events.taskAbandoned],
        fail: [Events.taskExhausted, Events.taskAbandoned, Events.taskInterrupted],
        die: [Events.taskExhausted, Events.taskAbandoned, Events.taskInterrupted],
        flaky: [Events.taskSucceeded, Events.taskAbandoned, Events.taskInterrupted],
        drop: [Events.taskDropped, Events.taskAbandoned, Events.taskInterrupted],
        later: [Events.taskCancelled, Events.taskAbandoned]
      }
      const unexpected = accepted.filter(({ kind, name }) => !possible[kind].includes(ended.get(name)![0]!))
      expect(unexpected.slice(0, 5).map(({ kind, name }) => [kind, name, ended.get(name)])).toEqual([])
      // Every outcome happened: the run exercised each way a task can end.
      const tally = (event: string) => [...ended.values()].filter(([first]) => first === event).length
      expect(outcomes.filter((event) => tally(event) === 0)).toEqual([])
      // What never finishes and was not cancelled is interrupted at close, with its count logged once.
      expect(closeTimedOut).toBe(1)

      report("local route, closed mid-way", {
        "tasks generated": count,
        accepted: accepted.length,
        "refused (shutting_down)": refused,
        succeeded: tally(Events.taskSucceeded),
        dropped: tally(Events.taskDropped),
        exhausted: tally(Events.taskExhausted),
        cancelled: tally(Events.taskCancelled),
        interrupted: tally(Events.taskInterrupted),
        abandoned: tally(Events.taskAbandoned),
        lost: lost.length,
        "more than one outcome": twice.length,
        crashes: defects.length,
        "accepted/s": Math.round((accepted.length / (closedAt - started)) * 1000),
        "close (ms)": Math.round(closed - closedAt)
      })
    }), { timeout: 240_000 })
})
