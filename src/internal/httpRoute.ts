/**
 * The mechanism shared by the worker and loopback routes: one HTTP POST of the
 * task's JSON body to the route's base URL, bounded by its dispatch deadline. A 2xx
 * resolves the call; a timeout, any other status (a redirect included: it is not
 * followed, so the secret never leaves its origin) or a connection failure is a
 * `DispatchError`. The secret is put on the wire here and nowhere else: no span,
 * error or log of the request carries it.
 */
import { Clock, Duration, Effect, Option, Redacted } from "effect"
import { DispatchError } from "../Errors.js"
import { type EventName, Events } from "../Events.js"
import type { RouteShape, TaskRequest } from "../Route.js"
import { TasksConfig, type TasksConfigShape } from "../TasksConfig.js"
import { type Agents, destroyAgents, type HttpTaskResult, makeAgents, sendHttpTask } from "./httpPost.js"
import { DEFAULT_DISPATCH_DEADLINE_MS } from "./limits.js"
import * as Log from "./log.js"
import { isoTimestamp } from "./routing.js"

/** What distinguishes the worker route from the loopback route. */
export interface HttpRouteSpec {
  readonly route: "worker" | "loopback"
  /** The variable that holds the base URL, for messages. */
  readonly variable: string
  readonly baseUrl: (config: TasksConfigShape) => Option.Option<string>
  readonly namePrefix: string
  readonly success: EventName
  /** The event of each way the POST can fail. */
  readonly failure: (reason: "timeout" | "http_error" | "unreachable") => EventName
}

/** The worker route: worker paths to the dev worker server at `WORKER_URL_BASE`. */
export const workerSpec: HttpRouteSpec = {
  route: "worker",
  variable: "WORKER_URL_BASE", baseUrl: (config) => config.workerUrlBase, namePrefix: "dev-worker-dispatch",
  success: Events.workerSuccess,
  failure: (reason) =>
    reason === "timeout" ? Events.workerTimeout : reason === "http_error" ? Events.workerError : Events.workerException
}

/** The loopback route: every task to `TASKS_URL_BASE`, as Cloud Tasks would. */
export const loopbackSpec: HttpRouteSpec = {
  route: "loopback",
  variable: "TASKS_URL_BASE", baseUrl: (config) => config.urlBase, namePrefix: "local-loopback",
  success: Events.loopbackSuccess,
  failure: () => Events.loopbackError
}

/** One POST, aborted when interrupted (by the deadline's timeout). */
const post = (agents: Agents, url: string, headers: ReadonlyArray<readonly [string, string]>, body: string) =>
  Effect.async<HttpTaskResult>((resume) => {
    const abort = sendHttpTask(agents, { url, method: "POST", headers, body }, (result) => resume(Effect.succeed(result)))
    return Effect.sync(abort)
  })

export const makeHttpRoute = (spec: HttpRouteSpec) =>
  Effect.gen(function*() {
    const config = yield* TasksConfig
    const baseUrl = spec.baseUrl(config)
    const agents = yield* Effect.acquireRelease(Effect.sync(makeAgents), (agents) => Effect.sync(() => destroyAgents(agents)))
    const authEvent: Log.Event = config.authDefaulted
      ? [Log.LogLevel.Warning, Events.tasksAuthMissing, "TASKS_AUTH is not set; sending the development default"]
      : [Log.LogLevel.Debug, Events.tasksAuthSet, "TASKS_AUTH is set"]

    const dispatch: RouteShape["dispatch"] = (request: TaskRequest) =>
      Effect.gen(function*() {
        const fields = { path: request.path, route: spec.route }
        const fail = (reason: DispatchError["reason"], message: string, extra: { status?: number; cause?: unknown } = {}) =>
          new DispatchError({ message, path: request.path, route: spec.route, reason, ...extra })
        if (Option.isNone(baseUrl)) {
          const message = `${spec.variable} is not set; cannot dispatch ${request.path} to the ${spec.route} route`
          yield* Log.error(Events.baseUrlMissing, message, fields)
          return yield* fail("unreachable", message)
        }
        if (Option.isSome(request.scheduleTime)) {
          yield* Log.warn(Events.scheduleIgnored, `The ${spec.route} route sends at once; scheduleTime is ignored`, fields)
        }
        yield* Log.events([authEvent], fields)
        const url = baseUrl.value + request.path
        const deadline = Option.getOrElse(request.dispatchDeadline, () => Duration.millis(DEFAULT_DISPATCH_DEADLINE_MS))
        const headers: Array<readonly [string, string]> = [
          ...Object.entries(request.headers),
          ["Content-Type", "application/json"],
          ["Prefer", "respond-async"]
        ]
        if (Option.isSome(request.traceparent)) headers.push(["traceparent", request.traceparent.value])
        // The secret goes on the wire here and nowhere else.
        if (Option.isSome(config.auth)) headers.push(["X-Tasks-Auth", Redacted.value(config.auth.value)])

        const result = yield* Effect.timeoutOption(post(agents, url, headers, request.body), deadline)
        if (Option.isNone(result)) {
          const message = `The ${spec.route} endpoint ${url} did not answer within ${Duration.format(deadline)}`
          yield* Log.error(spec.failure("timeout"), message, { ...fields, reason: "timeout" })
          return yield* fail("timeout", message)
        }
        const answer = result.value
        if (answer._tag === "Failed") {
          const message = `The ${spec.route} endpoint ${url} could not be reached: ${answer.message}`
          yield* Log.error(spec.failure("unreachable"), message, { ...fields, reason: "unreachable" })
          return yield* fail("unreachable", message, { cause: { code: answer.code, message: answer.message } })
        }
        const status = answer.status
        if (status < 200 || status >= 300) {
          const message = `The ${spec.route} endpoint ${url} answered HTTP ${status}` +
            (status >= 300 && status < 400 ? " (a redirect, which is not followed)" : "")
          yield* Log.error(spec.failure("http_error"), message, { ...fields, status, reason: "http_error" })
          return yield* fail("http_error", message, { status })
        }
        const name = `${spec.namePrefix}-${isoTimestamp(yield* Clock.currentTimeMillis)}`
        yield* Log.info(spec.success, `The ${spec.route} endpoint accepted the task (HTTP ${status})`, {
          ...fields,
          status,
          name
        })
        return { name, route: spec.route }
      })
    return { dispatch }
  })
