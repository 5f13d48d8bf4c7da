/**
 * The task server's router: one POST endpoint per handler path, each checking
 * `X-Tasks-Auth`, the body size, the JSON and the payload Schema before running the
 * handler, and answering with the status that makes Cloud Tasks stop or retry.
 * Handlers run on supervised fibers owned by the server's scope, so that closing it
 * waits for them (respond-async ones included) within a grace period.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as HttpTraceContext from "@effect/platform/HttpTraceContext"
import { Cause, Duration, Effect, Exit, Fiber, Option, Stream, Tracer } from "effect"
import { Events } from "../../Events.js"
import type { PayloadIssue } from "../../Errors.js"
import { type TaskHandler, TaskHandlers } from "../../TaskHandlers.js"
import { TaskContext } from "../../TaskContext.js"
import type { TaskServerOptions, TaskServerShape } from "../../TaskServer.js"
import { TaskServerConfig } from "../../TaskServerConfig.js"
import { MAX_TASK_BYTES } from "../limits.js"
import * as Log from "../log.js"
import { runTaskHandler } from "../runHandler.js"
import { makeSupervisor } from "../supervisor.js"
import { makeSecretCheck } from "./auth.js"

/**
 * Runs a request in the span `TaskServer.handle`. Its parent is the current span (the
 * platform's HTTP server span, which already continues the request's `traceparent`),
 * or, when the HTTP tracer is off, the span that `traceparent` names: either way the
 * handler's spans are descendants of the span that enqueued the task.
 */
const continueTrace = (path: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Effect.zip(Effect.serviceOption(Tracer.ParentSpan), HttpServerRequest.HttpServerRequest),
    ([parent, request]) => {
      const external = Option.isNone(parent) ? HttpTraceContext.fromHeaders(request.headers) : Option.none()
      return Effect.withSpan(effect, "TaskServer.handle", {
        kind: "server",
        attributes: { "tasks.path": path },
        ...(Option.isSome(external) ? { parent: external.value } : {})
      })
    }
  )

const json = (status: number, body: Record<string, unknown>) => HttpServerResponse.unsafeJson(body, { status })

/** True when the `Prefer` header asks for `respond-async` (RFC 7240, case-insensitive). */
const prefersAsync = (prefer: string | undefined): boolean =>
  prefer !== undefined &&
  prefer.split(",").some((preference) => preference.split(";")[0]!.trim().toLowerCase() === "respond-async")

type Body =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "TooLarge" }
  | { readonly _tag: "Unreadable" }

/**
 * Reads the body as UTF-8 text, keeping at most `limit` bytes. A longer body is still
 * read to its end (and dropped) so that the client receives the 413 instead of a
 * reset connection; the sender has already passed the auth check.
 */
const readBody = (request: HttpServerRequest.HttpServerRequest, limit: number): Effect.Effect<Body> =>
  Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return request.stream.pipe(
      Stream.runForEach((chunk) =>
        Effect.sync(() => {
          size += chunk.byteLength
          if (size <= limit) chunks.push(chunk)
        })
      ),
      Effect.map((): Body => {
        if (size > limit) return { _tag: "TooLarge" }
        try {
          return { _tag: "Text", text: new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks)) }
        } catch {
          return { _tag: "Unreadable" }
        }
      }),
      // A request without a body has no stream on some platforms: it is an empty body.
      Effect.catchAll(() => Effect.succeed<Body>(size === 0 ? { _tag: "Text", text: "" } : { _tag: "Unreadable" }))
    )
  })

/** The find-my-way pattern matching `path` literally (`:` starts a parameter there). */
const routePattern = (path: string): HttpRouter.PathInput => path.replaceAll(":", "::") as HttpRouter.PathInput

/**
 * Builds the router for the handlers in `TaskHandlers`, with the secret of
 * `TasksConfig`, in the current scope: closing it waits for running handlers.
 */
export const makeRouter = Effect.fnUntraced(function*(options: TaskServerOptions) {
  const config = yield* TaskServerConfig
  const { handlers } = yield* TaskHandlers
  const gracePeriod = Duration.decode(options.gracePeriod ?? Duration.seconds(30))
  const maxBodyBytes = options.maxBodyBytes ?? MAX_TASK_BYTES
  const checkSecret = Option.map(config.auth, makeSecretCheck)
  if (Option.isNone(checkSecret) && options.allowUnauthenticated !== true) {
    yield* Log.warn(
      Events.serverAuthMissing,
      "TASKS_AUTH is not set: every task request is refused with 401 (allowUnauthenticated lets the platform authenticate instead)",
      {}
    )
  }
  const authorized = (received: string | undefined): boolean =>
    Option.match(checkSecret, { onNone: () => options.allowUnauthenticated === true, onSome: (check) => check(received) })

  const { closing, drain, fork } = yield* makeSupervisor({
    gracePeriod,
    closeTimedOutEvent: Events.serverCloseTimedOut,
    interruptedEvent: Events.serverInterrupted,
    interruptedMessage: "Task handler interrupted"
  })

  const endpoint = (path: string, handler: TaskHandler) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const task = TaskContext.fromHeaders(request.headers)
      const fields = {
        path,
        name: Option.getOrUndefined(task.taskName),
        queue: Option.getOrUndefined(task.queueName),
        retry_count: Option.getOrUndefined(task.retryCount)
      }
      yield* Log.info(Events.serverReceived, "Task request received", fields)

      if (!authorized(request.headers["x-tasks-auth"])) {
        const missing = request.headers["x-tasks-auth"] === undefined
        yield* Log.warn(
          Events.serverUnauthorized,
          missing ? "Refused a task request without X-Tasks-Auth" : "Refused a task request with a wrong X-Tasks-Auth",
          { ...fields, status: 401, reason: missing ? "missing" : "mismatch" }
        )
        return json(401, { error: "unauthorized", message: "X-Tasks-Auth is missing or wrong" })
      }

      const refuse = (status: number, reason: string, message: string, issues?: ReadonlyArray<PayloadIssue>) =>
        Effect.as(
          Log.warn(Events.serverInvalidPayload, message, { ...fields, status, reason }),
          json(status, { error: reason, message, ...(issues === undefined ? {} : { issues }) })
        )
      const tooLarge = `The body is larger than ${maxBodyBytes} bytes`
      const declared = Number(request.headers["content-length"] ?? "0")
      if (declared > maxBodyBytes) {
        // The body is left unread: close the connection after the answer rather than keep it.
        return yield* Effect.map(
          refuse(413, "payload_too_large", tooLarge),
          HttpServerResponse.setHeader("connection", "close")
        )
      }
      const body = yield* readBody(request, maxBodyBytes)
      if (body._tag === "TooLarge") return yield* refuse(413, "payload_too_large", tooLarge)
      if (body._tag === "Unreadable") return yield* refuse(400, "malformed_json", "The body is not UTF-8 text")
      let parsed: unknown
      try {
        parsed = JSON.parse(body.text)
      } catch {
        return yield* refuse(400, "malformed_json", "The body is not valid JSON")
      }

      const decoded = yield* Effect.either(handler.decode(parsed))
      if (decoded._tag === "Left") {
        return yield* refuse(422, "invalid_payload", decoded.left.message, decoded.left.issues)
      }

      const respondAsync = prefersAsync(request.headers["prefer"])
      const execution = Effect.suspend(() => runTaskHandler(handler, decoded.right)).pipe(
        Effect.provideService(TaskContext, task),
        Effect.withSpan("TaskServer.run", { attributes: { "tasks.path": path } }),
        Effect.exit,
        Effect.tap((exit) =>
          Exit.isSuccess(exit)
            ? Log.info(Events.serverSucceeded, "Task handler succeeded", fields)
            : Log.error(Events.serverFailed, "Task handler failed", fields, exit.cause)
        )
      )
      if (closing()) {
        // Closing: a 503 makes Cloud Tasks (or the enqueuer) try again later; nothing is lost.
        yield* Log.warn(Events.serverRefused, "Refused a task: the server is shutting down", { ...fields, status: 503 })
        return json(503, { error: "shutting_down", message: "The server is shutting down" })
      }
      const fiber = yield* fork(execution, fields)
      if (respondAsync) {
        yield* Log.info(Events.serverAccepted, "Task accepted; the handler runs in the background", {
          ...fields,
          status: 202
        })
        return json(202, { status: "accepted" })
      }
      const outcome = yield* Fiber.await(fiber)
      if (Exit.isFailure(outcome)) return json(503, { error: "interrupted", message: "The server is shutting down" })
      const exit = outcome.value
      if (Exit.isSuccess(exit)) return json(200, { status: "succeeded" })
      if (Cause.isInterruptedOnly(exit.cause)) return json(503, { error: "interrupted", message: "The task was interrupted" })
      return json(500, { error: "task_failed", message: "The task handler failed" })
    }).pipe(continueTrace(path))

  let router: HttpRouter.HttpRouter = HttpRouter.empty
  for (const [path, handler] of handlers) {
    router = HttpRouter.post(router, routePattern(path), endpoint(path, handler))
  }
  return { router, paths: Array.from(handlers.keys()), drain } satisfies TaskServerShape
})
