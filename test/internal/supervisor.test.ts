/**
 * The supervisor of background tasks (local route and task server), on the TestClock:
 * drain waits for what was started before it; closing waits the grace period, then
 * interrupts what is left and says so, once in sum and once per task, as the task.
 *
 * Equivalent mutants: the `Exit.isSuccess` skip when logging interrupted fibers (a fiber asked
 * to stop that then succeeds still ends interrupted), and when the map of running fibers is
 * replaced by a copy (only the young generation's collector notices: benchmark B5), disabled in
 * the source with those reasons.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Runtime, Scope, TestClock } from "effect"
import { makeSupervisor } from "../../src/internal/supervisor.js"
import { withLogs } from "../utils/logs.js"

const options = {
  gracePeriod: Duration.seconds(5),
  closeTimedOutEvent: "tasks.server.close_timed_out",
  interruptedEvent: "tasks.server.interrupted",
  interruptedMessage: "Task handler interrupted"
} as const

describe("makeSupervisor", () => {
  it.effect("closing waits the grace period, then interrupts what is left and logs it, in sum and per task", () =>
    withLogs((logs) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const supervisor = yield* Scope.extend(makeSupervisor(options), scope)
        expect(supervisor.closing()).toBe(false)
        // Ends 3 s in, by itself; two never end; one fails by itself, 1 s in.
        yield* supervisor.fork(Effect.sleep("3 seconds"), { name: "quick" })
        yield* supervisor.fork(Effect.never, { name: "slow-1" }).pipe(Effect.annotateLogs("task_annotation", "kept"))
        // Started outside any fiber of the supervisor's (as the in-process queue starts attempts).
        const external = Runtime.runFork(yield* Effect.runtime<never>())(Effect.never)
        expect(supervisor.track(external, { name: "slow-2" })).toBe(external)
        yield* supervisor.fork(Effect.zipRight(Effect.sleep("1 second"), Effect.fail("boom")), { name: "fails" })
        const closed = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* TestClock.adjust("1 millis")
        expect(supervisor.closing()).toBe(true)
        yield* TestClock.adjust("4998 millis")
        expect(logs.events()).toEqual([])
        yield* TestClock.adjust("1 millis")
        yield* Fiber.join(closed)
        expect(logs.entries.filter(({ annotations }) => annotations.event !== undefined).map(({ annotations, level, message }) => [level, annotations.event, message, annotations.name ?? annotations.count]))
          .toEqual([
            ["WARN", "tasks.server.close_timed_out", "Closing: 2 task(s) still running after 5s; interrupting", 2],
            ["WARN", "tasks.server.interrupted", "Task handler interrupted", "slow-1"],
            ["WARN", "tasks.server.interrupted", "Task handler interrupted", "slow-2"]
          ])
        // The per-task event is logged as the task's fiber would: with its annotations.
        expect(logs.of("tasks.server.interrupted")[0]?.annotations.task_annotation).toBe("kept")
        expect(external.unsafePoll()).not.toBeNull()
      })
    ))

  it.effect("a fiber that fails by itself while being interrupted (uninterruptible) is not logged as interrupted", () =>
    withLogs((logs) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const supervisor = yield* Scope.extend(makeSupervisor(options), scope)
        yield* supervisor.fork(Effect.uninterruptible(Effect.zipRight(Effect.sleep("10 seconds"), Effect.fail("x"))), {
          name: "fails"
        })
        yield* supervisor.fork(Effect.never, { name: "interrupted" })
        const closed = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.join(closed)
        expect(logs.of("tasks.server.close_timed_out").map((entry) => entry.annotations.count)).toEqual([2])
        expect(logs.of("tasks.server.interrupted").map((entry) => entry.annotations.name)).toEqual(["interrupted"])
      })
    ))

  it.effect("a guarded fiber and a silenced one are waited for and interrupted, but not logged as interrupted tasks", () =>
    withLogs((logs) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const supervisor = yield* Scope.extend(makeSupervisor(options), scope)
        const runtime = yield* Effect.runtime<never>()
        // The caller's own fiber (the task server's request), which logs its own interruption.
        const guarded = Runtime.runFork(runtime)(Effect.never)
        supervisor.guard(guarded)
        // A task that ended otherwise (cancelled) while its attempt runs on.
        const silenced = supervisor.track(Runtime.runFork(runtime)(Effect.never), { name: "cancelled" })
        supervisor.silence(silenced)
        yield* supervisor.fork(Effect.never, { name: "slow" })
        const closed = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.join(closed)
        expect(logs.of("tasks.server.close_timed_out").map((entry) => entry.annotations.count)).toEqual([3])
        expect(logs.of("tasks.server.interrupted").map((entry) => entry.annotations.name)).toEqual(["slow"])
        expect([guarded.unsafePoll(), silenced.unsafePoll()].map((exit) => exit !== null && Exit.isInterrupted(exit)))
          .toEqual([true, true])
      })
    ))

  it.effect("nothing left after the grace period: no event", () =>
    withLogs((logs) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const supervisor = yield* Scope.extend(makeSupervisor(options), scope)
        yield* supervisor.fork(Effect.sleep("2 seconds"), { name: "quick" })
        const closed = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.join(closed)
        expect(logs.events()).toEqual([])
      })
    ))

  it.scoped("drain waits for the fibers started before it, not for those started after", () =>
    Effect.gen(function*() {
      const supervisor = yield* makeSupervisor(options)
      const first = yield* Deferred.make<void>()
      const later = yield* Deferred.make<void>()
      yield* supervisor.fork(Deferred.await(first), {})
      const drained = yield* Effect.fork(supervisor.drain)
      yield* Effect.yieldNow()
      yield* supervisor.fork(Deferred.await(later), {})
      expect(drained.unsafePoll()).toBeNull()
      yield* Deferred.succeed(first, undefined)
      yield* Fiber.join(drained)
      yield* supervisor.drain.pipe(Effect.fork, Effect.tap(() => Deferred.succeed(later, undefined)), Effect.flatMap(Fiber.join))
    }))

  it.effect("a fiber still running after a thousand others ended is waited for, interrupted and logged with its own fields", () =>
    withLogs((logs) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const supervisor = yield* Scope.extend(makeSupervisor(options), scope)
        yield* supervisor.fork(Effect.never, { name: "long" })
        const quick = yield* Effect.forEach(Array.from({ length: 1000 }), (_, i) => supervisor.fork(Effect.void, { name: `quick-${i}` }))
        yield* Fiber.awaitAll(quick)
        const silenced = yield* supervisor.fork(Effect.never, { name: "silenced" })
        supervisor.silence(silenced)
        const closed = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.join(closed)
        expect(logs.of("tasks.server.close_timed_out").map((entry) => entry.annotations.count)).toEqual([2])
        expect(logs.of("tasks.server.interrupted").map((entry) => entry.annotations.name)).toEqual(["long"])
        expect(silenced.unsafePoll()).not.toBeNull()
      })
    ))

  it.effect("silencing a fiber that already ended changes nothing; a fiber supervised after closing is interrupted at once", () =>
    withLogs((logs) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const supervisor = yield* Scope.extend(makeSupervisor(options), scope)
        const ended = yield* supervisor.fork(Effect.void, { name: "ended" })
        yield* Fiber.await(ended)
        supervisor.silence(ended)
        // Nothing runs: closing returns at once, without waiting the grace period or saying anything.
        yield* Scope.close(scope, Exit.void)
        expect(logs.events()).toEqual([])
        const late = Runtime.runFork(yield* Effect.runtime<never>())(Effect.never)
        supervisor.track(late, { name: "late" })
        expect(Exit.isInterrupted(yield* Fiber.await(late))).toBe(true)
        expect(logs.events()).toEqual([])
      })
    ))
})
