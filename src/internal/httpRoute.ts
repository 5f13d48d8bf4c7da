/**
 * The mechanism shared by the worker and loopback routes: one HTTP POST of the
 * task's JSON body, bounded by its dispatch deadline. A 2xx resolves the call;
 * a timeout, a non-2xx status or a connection failure is a `DispatchError`.
 */
// Deep imports: the platform index would load every module of @effect/platform at startup.
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Clock, Duration, Effect, Option, Redacted } from "effect"
import { DispatchError } from "../Errors.js"
import type { EventName } from "../Events.js"
import { Events } from "../Events.js"
import type { RouteShape, TaskRequest } from "../Route.js"
import { TasksConfig, type TasksConfigShape } from "../TasksConfig.js"
import * as Log from "./log.js"
import { DEFAULT_DEADLINE } from "./request.js"
import { isoTimestamp } from "./routing.js"

/** What distinguishes the worker route from the loopback route. */
export interface HttpRouteSpec {
  readonly route: "worker" | "loopback"
  /** The variable that holds the base URL, for messages. */
  readonly variable: string
  readonly baseUrl: (config: TasksConfigShape) => Option.Option<string>
  readonly namePrefix: string
  readonly events: {
    readonly success: EventName
    readonly timeout: EventName
    readonly httpError: EventName
    readonly unreachable: EventName
  }
}

/** Header names whose values never reach span attributes. */
const redactedHeaders = ["x-tasks-auth"]

export const makeHttpRoute = (spec: HttpRouteSpec) =>
  Effect.gen(function*() {
    const config = yield* TasksConfig
    const baseUrl = spec.baseUrl(config)
    const client = (yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest((request) =>
        request.pipe(
          HttpClientRequest.setHeader("prefer", "respond-async"),
          Option.match(config.auth, {
            onNone: () => (request: HttpClientRequest.HttpClientRequest) => request,
            onSome: (auth) => HttpClientRequest.setHeader("x-tasks-auth", Redacted.value(auth))
          })
        )
      )
    )

    const dispatch: RouteShape["dispatch"] = (request: TaskRequest) => Effect.gen(function*() {
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
      yield* Log.logEvent(
        config.authDefaulted ? Log.LogLevel.Warning : Log.LogLevel.Debug,
        config.authDefaulted ? Events.tasksAuthMissing : Events.tasksAuthSet,
        config.authDefaulted ? "TASKS_AUTH is not set; sending the development default" : "TASKS_AUTH is set",
        fields
      )
      const url = baseUrl.value + request.path
      const deadline = Option.getOrElse(request.dispatchDeadline, () => DEFAULT_DEADLINE)
      const result = yield* client.execute(
        HttpClientRequest.post(url).pipe(
          HttpClientRequest.setHeaders(request.headers),
          HttpClientRequest.bodyText(request.body, "application/json")
        )
      ).pipe(
        Effect.tap((response) => Effect.ignore(response.text)),
        Effect.timeout(deadline),
        Effect.locallyWith(Headers.currentRedactedNames, (names) => [...names, ...redactedHeaders]),
        Effect.either
      )
      if (result._tag === "Left") {
        const error = result.left
        if (error._tag === "TimeoutException") {
          const message = `The ${spec.route} endpoint ${url} did not answer within ${Duration.format(deadline)}`
          yield* Log.error(spec.events.timeout, message, fields)
          return yield* fail("timeout", message, { cause: error })
        }
        const message = `The ${spec.route} endpoint ${url} could not be reached: ${error.message}`
        yield* Log.error(spec.events.unreachable, message, fields)
        // The platform's error holds the request, secret header included: keep only what it says.
        return yield* fail("unreachable", message, {
          cause: { _tag: error._tag, reason: error.reason, message: error.message }
        })
      }
      const status = result.right.status
      if (status < 200 || status >= 300) {
        const message = `The ${spec.route} endpoint ${url} answered HTTP ${status}`
        yield* Log.error(spec.events.httpError, message, { ...fields, status })
        return yield* fail("http_error", message, { status })
      }
      const name = `${spec.namePrefix}-${isoTimestamp(yield* Clock.currentTimeMillis)}`
      yield* Log.info(spec.events.success, `The ${spec.route} endpoint accepted the task (HTTP ${status})`, {
        ...fields,
        status,
        name
      })
      return { name, route: spec.route }
    })
    return { dispatch }
  })
