/**
 * The worker and loopback routes load the platform's HTTP client on their first
 * dispatch: a module that cannot load is a typed ImportError, and a first dispatch
 * interrupted while loading does not break the ones after it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { pathToFileURL } from "node:url"
import { join } from "node:path"
import { Events, TasksConfig } from "../../src/index.js"
import { httpRouteOverFetch, workerSpec } from "../../src/internal/lazyHttpRoute.js"
import type { TaskRequest } from "../../src/Route.js"
import { recordingServer } from "../utils/httpServer.js"
import { captureLogs } from "../utils/logs.js"

const request: TaskRequest = {
  path: "/api/tasks/assemble",
  body: "{}",
  dispatchDeadline: Option.none(),
  scheduleTime: Option.none(),
  taskId: Option.none(),
  headers: {}
}

const routeAt = (url: string, fetchModule: string) =>
  httpRouteOverFetch(workerSpec, fetchModule).pipe(
    Effect.provide(TasksConfig.layerWith({ useWorkerInDev: true, workerUrlBase: url }))
  )

describe("the lazily loaded HTTP route", () => {
  it.live("a client module that cannot load is an ImportError per dispatch, logged, never a defect", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const route = yield* routeAt("http://127.0.0.1:9", "effect-http-tasks-no-such-module")
      const first = yield* Effect.flip(route.dispatch(request))
      const second = yield* Effect.flip(route.dispatch(request))
      for (const error of [first, second]) {
        expect(error).toMatchObject({ _tag: "ImportError", module: "effect-http-tasks-no-such-module" })
        expect(error.message).toContain("npm install @effect/platform")
      }
      expect(logs.of(Events.workerException).map((entry) => entry.annotations.path)).toEqual([
        request.path,
        request.path
      ])
    }).pipe(Effect.provide(layer))
  })

  it.scopedLive("a first dispatch interrupted while the client loads leaves the next to load it", () =>
    Effect.gen(function*() {
      const server = yield* recordingServer(() => ({ status: 202 }))
      const fixture = pathToFileURL(join(import.meta.dirname, "..", "fixtures", "gatedFetchHttpClient.ts")).href
      const route = yield* routeAt(server.url, fixture)
      const first = yield* Effect.fork(route.dispatch(request))
      const gate = yield* gateOf
      yield* Fiber.interrupt(first)
      gate.open()
      const info = yield* route.dispatch(request)
      expect(info.route).toBe("worker")
      expect(server.requests).toHaveLength(1)
    }))
})

/** The fixture's gate, once the route has begun loading it. */
const gateOf = Effect.promise(async () => {
  const registry = globalThis as { __gatedFetchHttpClient?: { readonly open: () => void } }
  while (registry.__gatedFetchHttpClient === undefined) await new Promise((resolve) => setTimeout(resolve, 5))
  return registry.__gatedFetchHttpClient
})
