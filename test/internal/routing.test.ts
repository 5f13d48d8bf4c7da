/**
 * The routing decision's own output, exactly: the routes a client builds for a configuration
 * and the events (level, name, message, annotations) a user reads for each decision.
 * (test/TasksClient.test.ts checks the route taken against the README's reference model.)
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { Events } from "../../src/Events.js"
import { decideRoute, decisionEvents, selectableRoutes } from "../../src/internal/routing.js"
import { TasksConfig, type TasksConfigInput, type TasksConfigShape } from "../../src/TasksConfig.js"

const configOf = (input: TasksConfigInput): TasksConfigShape => Effect.runSync(TasksConfig.make(input))

const readable = (config: TasksConfigShape, path: string) =>
  decisionEvents(config, decideRoute(config, path)).map(([level, event, message, fields]) => [
    level.label,
    event,
    message,
    fields
  ])

const start = ["DEBUG", Events.start, "Enqueueing task", undefined]
const dev = (reason: "dev_env" | "test_env") => [
  start,
  ["DEBUG", Events.cloudDisabled, "Cloud Tasks disabled", { reason }],
  ["DEBUG", Events.usingLocalDispatch, "Using local dispatch", undefined]
]
const checking = ["DEBUG", Events.checkingWorkerConfig, "Checking worker configuration", undefined]

describe("decisionEvents", () => {
  it("dry-run and cloud-tasks", () => {
    expect(readable(configOf({ dryRun: true }), "/a")).toEqual([start])
    const production = configOf({
      appEnv: "production",
      project: "p",
      location: "l",
      queue: "q",
      urlBase: "https://a.example",
      auth: "s"
    })
    expect(readable(production, "/a")).toEqual([
      start,
      ["DEBUG", Events.cloudEnabled, "Cloud Tasks enabled", undefined],
      ["DEBUG", Events.usingCloudTasks, "Using Cloud Tasks", undefined]
    ])
  })

  it("loopback and worker, with the dev or test reason for Cloud Tasks being off", () => {
    expect(readable(configOf({ appEnv: "test", forceHttpLoopback: true, urlBase: "http://127.0.0.1:1" }), "/a")).toEqual([
      ...dev("test_env"),
      ["DEBUG", Events.usingLoopback, "Posting to TASKS_URL_BASE (HTTP loopback)", undefined]
    ])
    expect(readable(configOf({ appEnv: "dev", useWorkerInDev: true, workerUrlBase: "http://127.0.0.1:1" }), "/api/tasks/assemble"))
      .toEqual([
        ...dev("dev_env"),
        checking,
        ["DEBUG", Events.workerConfigValid, "Worker configuration valid", undefined],
        ["DEBUG", Events.usingWorkerServer, "Using the worker server", undefined]
      ])
  })

  it("local: a worker asked for but unusable is a warning with the reason and the problem; otherwise Debug", () => {
    const notUsing = (level: string, reason: string, message = "Not using the worker server") => [
      ...dev("dev_env"),
      checking,
      [level, Events.workerConfigInvalid, message, { reason }]
    ]
    expect(readable(configOf({}), "/api/tasks/assemble")).toEqual(notUsing("DEBUG", "worker_disabled"))
    expect(readable(configOf({ useWorkerInDev: true }), "/api/tasks/assemble")).toEqual(
      notUsing("WARN", "worker_url_missing")
    )
    expect(readable(configOf({ useWorkerInDev: true, workerUrlBase: "127.0.0.1:8001" }), "/api/tasks/assemble")).toEqual(
      notUsing(
        "WARN",
        "worker_url_invalid",
        "Not using the worker server: WORKER_URL_BASE must be an absolute http(s) URL, got \"127.0.0.1:8001\""
      )
    )
    expect(readable(configOf({ useWorkerInDev: true, workerUrlBase: "http://127.0.0.1:1" }), "/other")).toEqual(
      notUsing("DEBUG", "not_worker_path")
    )
    // Not asked for: a bad WORKER_URL_BASE is no warning, only the reason it was not used.
    expect(readable(configOf({ workerUrlBase: "127.0.0.1:8001" }), "/api/tasks/assemble")[4]?.[0]).toBe("DEBUG")
  })
})

describe("selectableRoutes", () => {
  it("are exactly the routes decideRoute takes for some path, for every combination of the settings that choose", () => {
    let compared = 0
    for (const appEnv of ["dev", "test", "production"] as const) {
      for (const dryRun of [false, true]) {
        for (const forceHttpLoopback of [false, true]) {
          for (const useWorkerInDev of [false, true]) {
            for (const workerUrlBase of [undefined, "http://127.0.0.1:8001", "127.0.0.1:8001"]) {
              const input = { appEnv, dryRun, forceHttpLoopback, useWorkerInDev, workerUrlBase }
              const config = Effect.runSync(
                Effect.either(
                  TasksConfig.make({ ...input, project: "p", location: "l", queue: "q", urlBase: "https://a.example", auth: "s" })
                )
              )
              // A production configuration with a forced loopback or a bad URL is refused: no routes to compare.
              if (Either.isLeft(config)) continue
              const taken = new Set(["/api/tasks/assemble", "/api/tasks/process-chunk", "/other"].map((path) =>
                decideRoute(config.right, path).route
              ))
              expect(selectableRoutes(config.right), JSON.stringify(input)).toEqual(taken)
              compared++
            }
          }
        }
      }
    }
    // 72 combinations; production refuses 12 of them (a forced loopback, a worker URL that is not one).
    expect(compared).toBe(60)
  })
})
