/**
 * The routing decision of SPEC §1, as a pure function of the configuration and the
 * task path, so that it can be tested against a reference model.
 */
import type { TasksConfigShape } from "../TasksConfig.js"
import { Option } from "effect"

/** Why a dev/test task does not go to the worker server. */
export type WorkerConfigProblem = "worker_disabled" | "worker_url_missing" | "worker_url_invalid" | "not_worker_path"

/** The route for one task, and for local dispatch why the worker was not used. */
export type Decision =
  | { readonly route: "dry-run" }
  | { readonly route: "cloud-tasks" }
  | { readonly route: "loopback" }
  | { readonly route: "worker" }
  | { readonly route: "local"; readonly workerProblem: WorkerConfigProblem }

export const decideRoute = (config: TasksConfigShape, path: string): Decision => {
  if (config.dryRun) return { route: "dry-run" }
  if (config.appEnv === "production") return { route: "cloud-tasks" }
  if (config.forceHttpLoopback) return { route: "loopback" }
  if (!config.useWorkerInDev) return { route: "local", workerProblem: "worker_disabled" }
  if (Option.isSome(config.workerUrlProblem)) return { route: "local", workerProblem: "worker_url_invalid" }
  if (Option.isNone(config.workerUrlBase)) return { route: "local", workerProblem: "worker_url_missing" }
  if (!config.workerPaths.has(path)) return { route: "local", workerProblem: "not_worker_path" }
  return { route: "worker" }
}

/** The timestamp used in task names: ISO-8601 UTC ending in `Z`. */
export const isoTimestamp = (millis: number): string => new Date(millis).toISOString()
