import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { loadOnce } from "../../src/internal/loadOnce.js"

describe("loadOnce", () => {
  it.effect("loads once, and concurrent first uses share that one load", () =>
    Effect.gen(function*() {
      let loads = 0
      const gate = yield* Deferred.make<void>()
      const get = yield* loadOnce(Effect.zipRight(Deferred.await(gate), Effect.sync(() => ++loads)))
      const first = yield* Effect.fork(get)
      const second = yield* Effect.fork(get)
      yield* Effect.yieldNow()
      yield* Deferred.succeed(gate, undefined)
      expect([yield* Fiber.join(first), yield* Fiber.join(second), yield* get]).toEqual([1, 1, 1])
      expect(loads).toBe(1)
    }))

  it.effect("keeps no failure: the next use loads again", () =>
    Effect.gen(function*() {
      let loads = 0
      const get = yield* loadOnce(Effect.suspend(() => ++loads === 1 ? Effect.fail("module not found") : Effect.succeed(loads)))
      expect(yield* Effect.exit(get)).toEqual(Exit.fail("module not found"))
      expect(yield* get).toBe(2)
      expect(yield* get).toBe(2)
      expect(loads).toBe(2)
    }))

  it.effect("keeps no interruption: a load cut off is tried again", () =>
    Effect.gen(function*() {
      let loads = 0
      const get = yield* loadOnce(Effect.suspend(() => ++loads === 1 ? Effect.never : Effect.succeed(loads)))
      const cut = yield* Effect.fork(get)
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(cut)
      expect(yield* get).toBe(2)
    }))
})
