/**
 * The task server's router: one POST endpoint per handler path, each checking the
 * exact path, `X-Tasks-Auth` and the OIDC token, the body size, the JSON and the
 * payload Schema before running the handler, and answering with the status that makes
 * Cloud Tasks stop or retry. A refused request (401, 413) is answered without reading
 * its body, and its connection is closed. Handlers run on supervised fibers owned by
 * the server's scope, so that closing it waits for them (respond-async ones included)
 * within a grace period.
 */
import * as IncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as HttpTraceContext from "@effect/platform/HttpTraceContext"
import { Cause, Duration, Effect, Exit, Fiber, Option, Stream, Tracer } from "effect"
import { Events } from "../../Events.js"
import type { PayloadIssue } from "../../Errors.js"
import { type TaskHandler, TaskHandlers } from "../../TaskHandlers.js"
import { TaskContext, type TaskContextShape } from "../../TaskContext.js"
import type { TaskServerOptions, TaskServerShape } from "../../TaskServer.js"
import { TaskServerConfig } from "../../TaskServerConfig.js"
import { MAX_TASK_BYTES } from "../limits.js"
import * as Log from "../log.js"
import { type Outcome, outcomeOf } from "../outcome.js"
import { isLastAttempt, queueSettings } from "../queues.js"
import { runTaskHandler } from "../runHandler.js"
import { makeSupervisor } from "../supervisor.js"
import { parseTaskJson } from "../json.js"
import { makeSecretCheck } from "./auth.js"
import { makeOidcVerifier, type OidcRefusal } from "./oidc.js"

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
        // not captured per request: every delivered task comes through here
        captureStackTrace: false,
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

/** An answer that closes the connection: the request's body is left unread. */
const refusal = (status: number, body: Record<string, unknown>) =>
  HttpServerResponse.setHeader(json(status, body), "connection", "close")

type Body =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "TooLarge" }
  | { readonly _tag: "Unreadable" }

/** UTF-8 text of `bytes`, or the body is unreadable. */
const decodeText = (bytes: Uint8Array): Body => {
  try {
    return { _tag: "Text", text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) }
  } catch {
    return { _tag: "Unreadable" }
  }
}

/**
 * Reads a body whose length was declared (and already checked against the limit) in one
 * piece: the common case, and far cheaper than the stream a chunked body needs
 * (benchmark B7).
 */
const readDeclared = (request: HttpServerRequest.HttpServerRequest, limit: number): Effect.Effect<Body> =>
  request.arrayBuffer.pipe(
    IncomingMessage.withMaxBodySize(Option.some(limit)),
    Effect.map((buffer) => decodeText(new Uint8Array(buffer))),
    Effect.orElseSucceed((): Body => ({ _tag: "TooLarge" }))
  )

/**
 * Reads the body as UTF-8 text, keeping at most `limit` bytes. A longer body is read
 * on (and dropped) up to twice the limit, so that a client sending a little too much
 * receives its 413 rather than a reset connection; past that, reading stops and the
 * connection is dropped: an endless body is never read to its end.
 */
const readBody = (request: HttpServerRequest.HttpServerRequest, limit: number): Effect.Effect<Body> =>
  request.headers["content-length"] !== undefined
    ? readDeclared(request, limit)
    : Effect.suspend(() => {
      const chunks: Array<Uint8Array> = []
      let size = 0
      return request.stream.pipe(
        Stream.takeUntil((chunk) => {
          size += chunk.byteLength
          if (size <= limit) chunks.push(chunk)
          return size > 2 * limit
        }),
        Stream.runDrain,
        Effect.map((): Body => (size > limit ? { _tag: "TooLarge" } : decodeText(Buffer.concat(chunks)))),
        // A request without a body has no stream on some platforms: it is an empty body.
        Effect.catchAll(() => Effect.succeed<Body>(size === 0 ? { _tag: "Text", text: "" } : { _tag: "Unreadable" }))
      )
    })

/** The answer that gives Cloud Tasks the outcome's meaning: 2xx ends the task, anything else is retried. */
const answer = (outcome: Outcome) => {
  switch (outcome._tag) {
    case "Succeeded":
      return json(200, { status: "succeeded" })
    case "Dropped":
      return json(200, { status: "dropped", message: outcome.error.message })
    case "RetryAfter":
      return HttpServerResponse.setHeader(
        json(503, { error: "retry_later", message: outcome.error.message }),
        "retry-after",
        outcome.retryAfter
      )
    case "Refused":
      return json(422, { error: "invalid_payload", message: outcome.error.message, issues: outcome.error.issues })
    case "Interrupted":
      return json(503, { error: "interrupted", message: "The task was interrupted" })
    case "Failed":
      return json(500, { error: "task_failed", message: "The task handler failed" })
  }
}

/** The event of an outcome, logged as the handler ends. */
const logOutcome = (outcome: Outcome, fields: Log.EventFields) => {
  switch (outcome._tag) {
    case "Succeeded":
      return Log.info(Events.serverSucceeded, "Task handler succeeded", fields)
    case "Dropped":
      return Log.error(
        Events.serverDropped,
        `Task dropped, not retried: ${outcome.error.message}`,
        { ...fields, status: 200 },
        Cause.fail(outcome.error)
      )
    case "RetryAfter":
      return Log.warn(Events.serverRetryLater, `Task asks to be retried: ${outcome.error.message}`, {
        ...fields,
        status: 503,
        retry_after: outcome.retryAfter
      })
    case "Refused":
    case "Interrupted":
      return Log.warn(Events.serverFailed, "Task handler failed", { ...fields, status: outcome.status })
    case "Failed":
      return Log.error(Events.serverFailed, "Task handler failed", { ...fields, status: 500 }, outcome.cause)
  }
}

/** The events' words for each reason a token was refused. */
const oidcMessages: Record<OidcRefusal, string> = {
  missing: "without an OIDC token",
  malformed: "with a malformed OIDC token",
  unsupported_algorithm: "with an OIDC token not signed RS256",
  unknown_key: "with an OIDC token signed by an unknown key",
  bad_signature: "with an OIDC token whose signature does not verify",
  wrong_issuer: "with an OIDC token from another issuer",
  wrong_audience: "with an OIDC token for another audience",
  expired: "with an expired OIDC token",
  not_yet_valid: "with an OIDC token issued in the future",
  email_not_allowed: "with an OIDC token of a service account not allowed",
  keys_unavailable: "while the OIDC signing keys could not be fetched"
}

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
  const verifyToken = Option.isSome(config.oidc) ? Option.some(yield* makeOidcVerifier(config.oidc.value)) : Option.none()
  const unauthenticated = Option.isNone(checkSecret) && Option.isNone(verifyToken)
  if (unauthenticated && options.allowUnauthenticated !== true) {
    yield* Log.warn(
      Events.serverAuthMissing,
      "Neither TASKS_AUTH nor TASKS_OIDC_AUDIENCE is set: every task request is refused with 401 " +
        "(allowUnauthenticated lets the platform authenticate instead)",
      {}
    )
  }
  if (Option.isSome(config.oidc) && config.oidc.value.emails.length === 0 && config.appEnv === "production") {
    yield* Log.warn(
      Events.serverAuthMissing,
      "TASKS_OIDC_SERVICE_ACCOUNTS is not set: an ID token of any Google service account for the audience is accepted",
      {}
    )
  }

  /** Why the request is refused, or `undefined` when every configured check passed. */
  const authProblem = (request: HttpServerRequest.HttpServerRequest) =>
    Effect.gen(function*() {
      if (unauthenticated) {
        return options.allowUnauthenticated === true ? undefined : { reason: "not_configured", status: 401 }
      }
      if (Option.isSome(checkSecret)) {
        const received = request.headers["x-tasks-auth"]
        if (!checkSecret.value(received)) return { reason: received === undefined ? "missing" : "mismatch", status: 401 }
      }
      if (Option.isSome(verifyToken)) {
        const refused = yield* Effect.flip(verifyToken.value(request.headers["authorization"]))
          .pipe(Effect.option)
        if (Option.isSome(refused)) {
          return { reason: `oidc_${refused.value}`, status: refused.value === "keys_unavailable" ? 503 : 401 }
        }
      }
      return undefined
    })

  const { closing, drain, fork } = yield* makeSupervisor({
    gracePeriod,
    closeTimedOutEvent: Events.serverCloseTimedOut,
    interruptedEvent: Events.serverInterrupted,
    interruptedMessage: "Task handler interrupted"
  })

  const endpoint = (path: string, handler: TaskHandler) => {
    // Whether an attempt is the last its queue allows: known from the settings of the
    // definition's queue, for a request that comes from that queue.
    const queue = handler.queue
    const settings = queue === undefined ? Option.none() : Option.getRight(queueSettings(queue))
    const lastAttempt = (task: TaskContextShape): Option.Option<boolean> =>
      Option.isSome(settings) && Option.isSome(task.retryCount) && Option.contains(task.queueName, queue!.id)
        ? isLastAttempt(settings.value, task.retryCount.value)
        : Option.none()
    return Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const task = TaskContext.fromHeaders(request.headers)
      const fields = {
        path,
        name: Option.getOrUndefined(task.taskName),
        queue: Option.getOrUndefined(task.queueName),
        retry_count: Option.getOrUndefined(task.retryCount)
      }
      yield* Log.debug(Events.serverReceived, "Task request received", fields)
      // The router matches paths loosely (case, trailing or doubled slashes, escapes):
      // a task path is matched exactly, as Cloud Tasks calls it.
      if (request.url !== path) {
        yield* Log.warn(Events.serverNotFound, `No task handler for ${request.url}: task paths match exactly`, {
          ...fields,
          path: request.url,
          status: 404
        })
        return json(404, { error: "not_found", message: "No task handler for this path" })
      }

      const denied = yield* authProblem(request)
      if (denied !== undefined) {
        const message = denied.reason.startsWith("oidc_")
          ? `Refused a task request ${oidcMessages[denied.reason.slice("oidc_".length) as OidcRefusal]}`
          : denied.reason === "not_configured"
          ? "Refused a task request: no authentication is configured"
          : `Refused a task request ${denied.reason === "missing" ? "without" : "with a wrong"} X-Tasks-Auth`
        yield* Log.warn(Events.serverUnauthorized, message, { ...fields, status: denied.status, reason: denied.reason })
        return denied.status === 503
          ? refusal(503, { error: "unavailable", message: "The request cannot be authenticated now" })
          : refusal(401, { error: "unauthorized", message: "The request is not authenticated" })
      }

      const refuse = (status: number, reason: string, message: string, issues?: ReadonlyArray<PayloadIssue>) =>
        Effect.as(
          Log.warn(Events.serverInvalidPayload, message, { ...fields, status, reason }),
          (status === 413 ? refusal : json)(status, { error: reason, message, ...(issues === undefined ? {} : { issues }) })
        )
      const tooLarge = `The body is larger than ${maxBodyBytes} bytes`
      const declared = Number(request.headers["content-length"] ?? "0")
      if (declared > maxBodyBytes) return yield* refuse(413, "payload_too_large", tooLarge)
      const body = yield* readBody(request, maxBodyBytes)
      if (body._tag === "TooLarge") return yield* refuse(413, "payload_too_large", tooLarge)
      if (body._tag === "Unreadable") return yield* refuse(400, "malformed_json", "The body is not UTF-8 text")
      const parsed = parseTaskJson(body.text)
      if (parsed._tag === "Left") return yield* refuse(400, "malformed_json", parsed.left)
      const decoded = yield* Effect.either(handler.decode(parsed.right))
      if (decoded._tag === "Left") {
        return yield* refuse(422, "invalid_payload", decoded.left.message, decoded.left.issues)
      }

      const respondAsync = prefersAsync(request.headers["prefer"])
      const context = { ...task, lastAttempt: lastAttempt(task) }
      const execution = Effect.suspend(() => runTaskHandler(handler, decoded.right)).pipe(
        Effect.provideService(TaskContext, context),
        Effect.withSpan("TaskServer.run", { attributes: { "tasks.path": path }, captureStackTrace: false }),
        Effect.exit,
        Effect.map(outcomeOf),
        Effect.tap((outcome) => logOutcome(outcome, fields))
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
      const exit = yield* Fiber.await(fiber)
      return Exit.isSuccess(exit)
        ? answer(exit.value)
        : json(503, { error: "interrupted", message: "The server is shutting down" })
    }).pipe(continueTrace(path))
  }

  let router: HttpRouter.HttpRouter = HttpRouter.empty
  for (const [path, handler] of handlers) {
    router = HttpRouter.post(router, routePattern(path), endpoint(path, handler))
  }
  return { router, paths: Array.from(handlers.keys()), drain } satisfies TaskServerShape
})
