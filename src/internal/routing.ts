/**
 * The routing decision, as a pure function of the configuration and the task path
 * (so that it can be tested against a reference model), and the events that say
 * how it was taken.
 */
import { Option } from "effect"
import { Events } from "../Events.js"
import type { TasksConfigShape } from "../TasksConfig.js"
import * as Log from "./log.js"

/** Why a dev/test task does not go to the worker server. */
export type WorkerConfigProblem = "worker_disabled" | "worker_url_missing" | "worker_url_invalid" | "not_worker_path"

/** The route for one task, and for local dispatch why the worker was not used. */
export type Decision =
  | { readonly route: "dry-run" }
  | { readonly route: "cloud-tasks" }
  | { readonly route: "loopback" }
  | { readonly route: "worker" }
  | { readonly route: "local"; readonly workerProblem: WorkerConfigProblem }

const decisions = {
  dryRun: { route: "dry-run" },
  cloudTasks: { route: "cloud-tasks" },
  loopback: { route: "loopback" },
  worker: { route: "worker" },
  workerDisabled: { route: "local", workerProblem: "worker_disabled" },
  workerUrlInvalid: { route: "local", workerProblem: "worker_url_invalid" },
  workerUrlMissing: { route: "local", workerProblem: "worker_url_missing" },
  notWorkerPath: { route: "local", workerProblem: "not_worker_path" }
} as const satisfies Record<string, Decision>

/**
 * The route for a task to `path` under `config`. One of a few shared values, so that
 * what is derived from a decision (its events) can be kept per decision.
 */
export const decideRoute = (config: TasksConfigShape, path: string): Decision => {
  if (config.dryRun) return decisions.dryRun
  if (config.appEnv === "production") return decisions.cloudTasks
  if (config.forceHttpLoopback) return decisions.loopback
  if (!config.useWorkerInDev) return decisions.workerDisabled
  if (Option.isSome(config.workerUrlProblem)) return decisions.workerUrlInvalid
  if (Option.isNone(config.workerUrlBase)) return decisions.workerUrlMissing
  if (!config.workerPaths.has(path)) return decisions.notWorkerPath
  return decisions.worker
}

/**
 * Every route `decideRoute` can choose under `config`, whatever the path: the routes a
 * client must build (a dry run needs no queue engine, production no in-process one).
 */
export const selectableRoutes = (config: TasksConfigShape): ReadonlySet<Decision["route"]> => {
  if (config.dryRun) return new Set(["dry-run"])
  if (config.appEnv === "production") return new Set(["cloud-tasks"])
  if (config.forceHttpLoopback) return new Set(["loopback"])
  const worker = config.useWorkerInDev && Option.isNone(config.workerUrlProblem) && Option.isSome(config.workerUrlBase)
  return new Set(worker ? ["local", "worker"] : ["local"])
}

const step = (event: Log.Event[1], message: string, fields?: Log.EventFields): Log.Event => [
  Log.LogLevel.Debug,
  event,
  message,
  fields
]

/** The first event of every call. */
export const startEvent = step(Events.start, "Enqueueing task")

/**
 * The events of the decision for `config`, in order, starting with the call's first:
 * steps at Debug, except the warning that a worker asked for cannot be used.
 */
export const decisionEvents = (config: TasksConfigShape, decision: Decision): ReadonlyArray<Log.Event> => {
  switch (decision.route) {
    case "dry-run":
      return [startEvent]
    case "cloud-tasks":
      return [startEvent, step(Events.cloudEnabled, "Cloud Tasks enabled"), step(Events.usingCloudTasks, "Using Cloud Tasks")]
  }
  const dev = [
    startEvent,
    step(Events.cloudDisabled, "Cloud Tasks disabled", { reason: config.appEnv === "test" ? "test_env" : "dev_env" }),
    step(Events.usingLocalDispatch, "Using local dispatch")
  ]
  if (decision.route === "loopback") return [...dev, step(Events.usingLoopback, "Posting to TASKS_URL_BASE (HTTP loopback)")]
  const checking = step(Events.checkingWorkerConfig, "Checking worker configuration")
  if (decision.route === "worker") {
    return [
      ...dev,
      checking,
      step(Events.workerConfigValid, "Worker configuration valid"),
      step(Events.usingWorkerServer, "Using the worker server")
    ]
  }
  const reason = decision.workerProblem
  const notWorker: Log.Event = [
    // Asked for the worker but it is not usable: a warning, so the fallback is seen.
    config.useWorkerInDev && reason !== "not_worker_path" ? Log.LogLevel.Warning : Log.LogLevel.Debug,
    Events.workerConfigInvalid,
    Option.match(config.workerUrlProblem, {
      onNone: () => "Not using the worker server",
      onSome: (problem) => `Not using the worker server: ${problem}`
    }),
    { reason }
  ]
  return [...dev, checking, notWorker]
}

/** The timestamp used in task names: ISO-8601 UTC ending in `Z`. */
export const isoTimestamp = (millis: number): string => new Date(millis).toISOString()
