/**
 * Each route's work, loaded when a configuration needs it: a process loads only the
 * routes its configuration can choose (a dry run loads no queue engine, no HTTP client
 * and no Cloud Tasks client), which is most of a cold start's cost (benchmark B4).
 */
import { Effect } from "effect"

/** The in-process queue of the local route. */
export const loadLocalQueue = Effect.promise(() => import("./localQueue.js"))

/** The worker and loopback routes' HTTP POST. */
export const loadHttpRoute = Effect.promise(() => import("./httpRoute.js"))

/** The cloud-tasks route. */
export const loadCloudRoute = Effect.promise(() => import("./cloudRoute.js"))

/** The dashboard of the in-process queue, on a port of its own (`TASKS_DASHBOARD_PORT`). */
export const loadDashboardServer = Effect.promise(() => import("./emulator/dashboardServer.js"))
