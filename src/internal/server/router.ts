/**
 * The task server's router: one POST endpoint per handler path, each checking the
 * exact path, `X-Tasks-Auth` and the OIDC token, the body size, the JSON and the
 * payload Schema before running the handler, and answering with the status that makes
 * Cloud Tasks stop or retry. A refused request (401, 413) is answered without reading
 * its body, and its connection is closed. A handler runs on its request's fiber (a
 * respond-async one on a fiber of its own), supervised by the server's scope, so that
 * closing it waits for them within a grace period.
 */
import * as IncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as HttpTraceContext from "@effect/platform/HttpTraceContext"
import type * as FileSystem from "@effect/platform/FileSystem"
import { Cause, Context, Duration, Effect, Exit, type Fiber, FiberRef, Option, Stream, Tracer } from "effect"
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
import { spanEnder, startSpan } from "../span.js"
import { makeSupervisor } from "../supervisor.js"
import { parseTaskJson } from "../json.js"
import { makeSecretCheck } from "./auth.js"
import { makeOidcVerifier, type OidcRefusal } from "./oidc.js"

const json = (status: number, body: Record<string, unknown>) => HttpServerResponse.unsafeJson(body, { status })

/** The answers every delivered task may get, made once: responses are immutable values. */
const succeeded = json(200, { status: "succeeded" })
const accepted = json(202, { status: "accepted" })

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
    return {
      // Stryker disable next-line StringLiteral: any tag but "TooLarge" and "Unreadable" is read as text
      _tag: "Text",
      text: new TextDecoder("utf-8", { fatal: true }).decode(bytes)
    }
  } catch {
    return { _tag: "Unreadable" }
  }
}

/**
 * Reads a body whose length was declared (and already checked against the limit) in one
 * piece: the common case, and far cheaper than the stream a chunked body needs
 * (benchmark B7). The HTTP parser reads no more than the declared length, so the
 * limit is applied only where the platform's own (`MaxBodySize`) is smaller: applying
 * it costs a change of the request's context.
 */
const readDeclared = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number,
  platformLimit: Option.Option<FileSystem.Size>
): Effect.Effect<Body> =>
  Effect.match(
    // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator: our limit where the platform's is no smaller, or absent, only costs a change of context: the declared length is within it
    Option.isSome(platformLimit) && platformLimit.value < limit
      ? IncomingMessage.withMaxBodySize(request.arrayBuffer, Option.some(limit))
      : request.arrayBuffer,
    {
      // Stryker disable next-line ArrowFunction,ObjectLiteral,StringLiteral: a declared-length read fails only when the client has gone: its answer reaches no one
      onFailure: (): Body => ({ _tag: "TooLarge" }),
      onSuccess: (buffer) => decodeText(new Uint8Array(buffer))
    }
  )

/**
 * Reads the body as UTF-8 text, keeping at most `limit` bytes. A longer body is read
 * on (and dropped) up to twice the limit, so that a client sending a little too much
 * receives its 413 rather than a reset connection; past that, reading stops and the
 * connection is dropped: an endless body is never read to its end.
 */
const readBody = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number,
  platformLimit: Option.Option<FileSystem.Size>
): Effect.Effect<Body> =>
  // Stryker disable next-line ConditionalExpression,StringLiteral: a declared-length body read as a stream is the same text, only slower
  request.headers["content-length"] !== undefined
    ? readDeclared(request, limit, platformLimit)
    : Effect.suspend(() => {
      const chunks: Array<Uint8Array> = []
      let size = 0
      return request.stream.pipe(
        Stream.takeUntil((chunk) => {
          size += chunk.byteLength
          // Stryker disable next-line ConditionalExpression: chunks kept past the limit change nothing: that body is refused
          if (size <= limit) chunks.push(chunk)
          return size > 2 * limit
        }),
        Stream.runDrain,
        Effect.map((): Body => (size > limit ? { _tag: "TooLarge" } : decodeText(Buffer.concat(chunks)))),
        // A request without a body has no stream on some platforms: it is an empty body.
        // Stryker disable next-line ConditionalExpression,ObjectLiteral,StringLiteral: a read failing midway (the client has gone) answers no one; the missing body's "" as other text, or untagged, is not JSON either way
        Effect.catchAll(() => Effect.succeed<Body>(size === 0 ? { _tag: "Text", text: "" } : { _tag: "Unreadable" }))
      )
    })

/** The answer that gives Cloud Tasks the outcome's meaning: 2xx ends the task, anything else is retried. */
const answer = (outcome: Outcome) => {
  switch (outcome._tag) {
    case "Succeeded":
      return succeeded
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

/** The request's span, and whether its handler is running. */
interface Running {
  running: boolean
  /** Ends the span with `exit` (the handler's, or the request's without one) on the first call. */
  readonly finished: (exit: Exit.Exit<unknown, unknown>) => void
}

/** `span` as `running` sees it, ended by the clock of `fiber` as `Effect.useSpan` would. */
const running = (fiber: Fiber.RuntimeFiber<unknown, unknown>, span: Tracer.Span): Running => {
  const end = spanEnder(fiber, span)
  const state: Running = {
    running: false,
    finished: (exit) => {
      // Stryker disable next-line BooleanLiteral: the answer follows the handler's exit with no async step of ours: only a scheduler yield could let an interruption in between
      state.running = false
      end(exit)
    }
  }
  return state
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

  /** A refusal of the request's credentials: why, and the status answered. */
  type Denial = { readonly reason: string; readonly status: 401 | 503 }
  /** Why the request's `X-Tasks-Auth` (or the lack of any configured check) refuses it, if it does. */
  const secretProblem = (request: HttpServerRequest.HttpServerRequest): Denial | undefined => {
    if (unauthenticated) {
      return options.allowUnauthenticated === true ? undefined : { reason: "not_configured", status: 401 }
    }
    if (Option.isSome(checkSecret)) {
      const received = request.headers["x-tasks-auth"]
      if (!checkSecret.value(received)) return { reason: received === undefined ? "missing" : "mismatch", status: 401 }
    }
    return undefined
  }
  /** Why the request's OIDC token refuses it, if it does. */
  const tokenProblem = (
    verify: (authorization: string | undefined) => Effect.Effect<unknown, OidcRefusal>,
    request: HttpServerRequest.HttpServerRequest
  ): Effect.Effect<Denial | undefined> =>
    Effect.match(verify(request.headers["authorization"]), {
      onFailure: (refused): Denial => ({ reason: `oidc_${refused}`, status: refused === "keys_unavailable" ? 503 : 401 }),
      onSuccess: () => undefined
    })

  const { closing, drain, fork, guard } = yield* makeSupervisor({
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
    const attributes = { "tasks.path": path }
    // Stack traces are not captured: every delivered task comes through here.
    const handleOptions = { kind: "server", captureStackTrace: false, attributes } as const
    const runOptions = { captureStackTrace: false, attributes } as const
    const services = handler.services.unsafeMap

    /**
     * The request, run by `fiber` in its span, which `span.finished` ends with the
     * handler's exit once there is one. Plain functions chain its steps, and an event is
     * built only when its level passes: every delivered task takes this path (benchmark B7).
     */
    const serve = (
      fiber: Fiber.RuntimeFiber<unknown, unknown>,
      request: HttpServerRequest.HttpServerRequest,
      fields: Log.EventFields,
      span: Running
    ): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
      const minimum = fiber.getFiberRef(FiberRef.currentMinimumLogLevel).ordinal
      // Stryker disable next-line ConditionalExpression: an event built when its level fails is still dropped by its own level check
      const passes = (level: Log.LogLevel.LogLevel) => level.ordinal >= minimum
      /** `log()` when `enabled`, then `response`. */
      const logged = (
        enabled: boolean,
        log: () => Effect.Effect<void>,
        response: HttpServerResponse.HttpServerResponse
      ) => (enabled ? Effect.as(log(), response) : Effect.succeed(response))
      const refuse = (status: number, reason: string, message: string, issues?: ReadonlyArray<PayloadIssue>) =>
        logged(
          passes(Log.LogLevel.Warning),
          () => Log.warn(Events.serverInvalidPayload, message, { ...fields, status, reason }),
          // JSON leaves out an `issues` that is undefined.
          (status === 413 ? refusal : json)(status, { error: reason, message, issues })
        )
      const unauthorized = (denied: Denial) => {
        const message = denied.reason.startsWith("oidc_")
          ? `Refused a task request ${oidcMessages[denied.reason.slice("oidc_".length) as OidcRefusal]}`
          : denied.reason === "not_configured"
          ? "Refused a task request: no authentication is configured"
          : `Refused a task request ${denied.reason === "missing" ? "without" : "with a wrong"} X-Tasks-Auth`
        return logged(
          passes(Log.LogLevel.Warning),
          () => Log.warn(Events.serverUnauthorized, message, { ...fields, status: denied.status, reason: denied.reason }),
          denied.status === 503
            ? refusal(503, { error: "unavailable", message: "The request cannot be authenticated now" })
            : refusal(401, { error: "unauthorized", message: "The request is not authenticated" })
        )
      }

      /** The handler's exit, logged as its outcome and answered. */
      const finish = (exit: Exit.Exit<unknown, unknown>) => {
        span.finished(exit)
        const outcome = outcomeOf(exit)
        // Only success is logged at Info; the other outcomes' events check their own levels.
        return logged(
          // Stryker disable next-line StringLiteral: `!== ""` logs every outcome, and a success's event still checks its own level
          outcome._tag !== "Succeeded" || passes(Log.LogLevel.Info),
          () => logOutcome(outcome, fields),
          answer(outcome)
        )
      }
      const run = (payload: unknown): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
        if (closing()) {
          // Closing: a 503 makes Cloud Tasks (or the enqueuer) try again later; nothing is lost.
          return logged(
            passes(Log.LogLevel.Warning),
            () => Log.warn(Events.serverRefused, "Refused a task: the server is shutting down", { ...fields, status: 503 }),
            json(503, { error: "shutting_down", message: "The server is shutting down" })
          )
        }
        let handle: Effect.Effect<unknown, unknown>
        try {
          handle = handler.handle(payload) as Effect.Effect<unknown, unknown>
        } catch (defect) {
          // A handler that throws instead of returning an effect has died, as in `Effect.suspend`.
          handle = Effect.die(defect)
        }
        if (prefersAsync(request.headers["prefer"])) {
          // The handler outlives the request and its span: its run has a span of its own,
          // on a fiber of its own that closing the server waits for.
          const execution = handle.pipe(
            Effect.withSpan("TaskServer.run", runOptions),
            Effect.exit,
            Effect.flatMap((exit) => logOutcome(outcomeOf(exit), fields))
          )
          return Effect.zipRight(
            fork(execution, fields),
            logged(
              passes(Log.LogLevel.Info),
              () =>
                Log.info(Events.serverAccepted, "Task accepted; the handler runs in the background", {
                  ...fields,
                  status: 202
                }),
              accepted
            )
          )
        }
        // The request's own fiber runs the handler, supervised: closing the server waits
        // for it (a fork and a join per request cost as much as the rest of the request).
        guard(fiber)
        span.running = true
        return Effect.matchCauseEffect(handle, {
          onFailure: (cause) => finish(Exit.failCause(cause)),
          onSuccess: (value) => finish(Exit.succeed(value))
        })
      }
      const read = (): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
        const tooLarge = `The body is larger than ${maxBodyBytes} bytes`
        const declared = Number(request.headers["content-length"] ?? 0)
        if (declared > maxBodyBytes) return refuse(413, "payload_too_large", tooLarge)
        const platformLimit = Context.get(fiber.currentContext, IncomingMessage.MaxBodySize)
        return Effect.flatMap(readBody(request, maxBodyBytes, platformLimit), (body) => {
          if (body._tag === "TooLarge") return refuse(413, "payload_too_large", tooLarge)
          if (body._tag === "Unreadable") return refuse(400, "malformed_json", "The body is not UTF-8 text")
          const parsed = parseTaskJson(body.text)
          if (parsed._tag === "Left") return refuse(400, "malformed_json", parsed.left)
          return Effect.matchEffect(handler.decode(parsed.right), {
            onFailure: (error) => refuse(422, "invalid_payload", error.message, error.issues),
            onSuccess: run
          })
        })
      }
      const checked = (): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
        // The router matches paths loosely (case, trailing or doubled slashes, escapes):
        // a task path is matched exactly, as Cloud Tasks calls it.
        if (request.url !== path) {
          return logged(
            passes(Log.LogLevel.Warning),
            () =>
              Log.warn(Events.serverNotFound, `No task handler for ${request.url}: task paths match exactly`, {
                ...fields,
                path: request.url,
                status: 404
              }),
            json(404, { error: "not_found", message: "No task handler for this path" })
          )
        }
        const denied = secretProblem(request)
        if (denied !== undefined) return unauthorized(denied)
        if (Option.isNone(verifyToken)) return read()
        return Effect.flatMap(
          tokenProblem(verifyToken.value, request),
          (denied) => denied === undefined ? read() : unauthorized(denied)
        )
      }
      return passes(Log.LogLevel.Debug)
        ? Effect.zipRight(Log.debug(Events.serverReceived, "Task request received", fields), Effect.suspend(checked))
        : checked()
    }

    return Effect.uninterruptibleMask((restore) =>
      Effect.withFiberRuntime<HttpServerResponse.HttpServerResponse>((fiber) => {
        const outer = fiber.currentContext
        const request = Context.unsafeGet(outer, HttpServerRequest.HttpServerRequest)
        const fromHeaders = TaskContext.fromHeaders(request.headers)
        const task: TaskContextShape = { ...fromHeaders, lastAttempt: lastAttempt(fromHeaders) }
        const fields = {
          path,
          name: Option.getOrUndefined(task.taskName),
          queue: Option.getOrUndefined(task.queueName),
          retry_count: Option.getOrUndefined(task.retryCount)
        }
        // The span's parent is the current span (the platform's HTTP server span, which
        // already continues the request's `traceparent`), or, when the HTTP tracer is
        // off, the span that `traceparent` names: either way the handler's spans are
        // descendants of the span that enqueued the task.
        const current: Tracer.AnySpan | undefined = outer.unsafeMap.get(Tracer.ParentSpan.key)
        const parent = current ?? Option.getOrUndefined(HttpTraceContext.fromHeaders(request.headers))

        /**
         * The request in the span: one change of its context (the services the handler
         * captured, over the caller's own, then the span and the delivery's TaskContext),
         * undone as the span ends.
         */
        const within = (started: Tracer.Span): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
          const span = running(fiber, started)
          const scoped = new Map(outer.unsafeMap)
          for (const [key, service] of services) scoped.set(key, service)
          scoped.set(Tracer.ParentSpan.key, started)
          scoped.set(TaskContext.key, task)
          return Effect.zipRight(
            FiberRef.set(FiberRef.currentContext, Context.unsafeMake(scoped)),
            Effect.matchCauseEffect(restore(serve(fiber, request, fields, span)), {
              onFailure: (cause) => {
                // Interrupted while its handler ran (the client went away, or closing the
                // server ran out of time): said here, as the handler cannot say it.
                const interrupted = span.running && Cause.isInterruptedOnly(cause)
                span.finished(Exit.failCause(cause))
                const left = Effect.zipRight(FiberRef.set(FiberRef.currentContext, outer), Effect.failCause(cause))
                return interrupted
                  ? Effect.zipRight(Log.warn(Events.serverInterrupted, "Task handler interrupted", fields), left)
                  : left
              },
              onSuccess: (response) => {
                span.finished(Exit.succeed(response))
                return Effect.as(FiberRef.set(FiberRef.currentContext, outer), response)
              }
            })
          )
        }
        const started = startSpan(fiber, "TaskServer.handle", parent, handleOptions)
        return started !== undefined
          ? within(started)
          : Effect.flatMap(
            Effect.makeSpan(
              "TaskServer.handle",
              // With no parent at all, `parent: undefined` is the same as none.
              current === undefined ? { ...handleOptions, parent } : handleOptions
            ),
            within
          )
      })
    )
  }

  let router: HttpRouter.HttpRouter = HttpRouter.empty
  for (const [path, handler] of handlers) {
    router = HttpRouter.post(router, routePattern(path), endpoint(path, handler))
  }
  return { router, paths: Array.from(handlers.keys()), drain } satisfies TaskServerShape
})
