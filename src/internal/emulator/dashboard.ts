/**
 * The dashboard of a queue engine, served at `/` by the emulator on its port: the page (one
 * self-contained file, no network), its state as JSON (`/_dashboard/state`), a stream of change
 * notifications (`/_dashboard/events`, server-sent events, so the page updates without
 * reloading) and its actions (`POST /_dashboard/action?op=…&name=…`: run now, delete, purge,
 * pause, resume, replay). It needs nothing but an {@link Engine} (no gRPC runtime, no protos),
 * so any server holding an engine can mount it: the emulator on its port, and the in-process
 * queue of the local route on a port of its own (`dashboardServer.ts`), with actions of its own.
 *
 * The values of `X-Tasks-Auth` and `Authorization` never reach the page: they are masked in the
 * state before it is sent. An action posted by a page of another origin is refused, and a
 * dashboard bound to loopback answers only requests addressed to a loopback name.
 *
 * @internal
 */
import type * as http from "node:http"
import { ApiError, Status } from "../engine/apiError.js"
import type { Engine, LiveTaskState } from "../engine/engine.js"
import type { DeliveryAttempt, StoredTask, TaskOutcome } from "../engine/model.js"
import { restErrorBody, toApiError } from "./apiStatus.js"
import { dashboardPage } from "./dashboardPage.js"
import { requestUrl } from "./requestUrl.js"

/** Header values the page never shows. */
const SECRET_HEADER = /^(x-tasks-auth|authorization)$/i

/** What the page shows of a masked value. */
export const MASK = "••••••••"

/** How many bytes of a body the page previews. */
const PREVIEW_BYTES = 2048

/** How many characters of an attempt's detail the page shows. */
const DETAIL_CHARS = 4096

/** How many finished tasks the page lists (the most recent); the counts include them all. */
const FINISHED_SHOWN = 300

/** How many live tasks the page lists (the oldest first); the counts include them all. */
const LIVE_SHOWN = 1000

/** How often, at most, the page is told that something changed. */
const NOTIFY_EVERY_MS = 100

/**
 * A task's state on the page (`dropped`: its handler refused it for good, which an in-process
 * queue on the engine reports).
 */
export type DashboardTaskState = LiveTaskState | "succeeded" | "dropped" | "exhausted" | "deleted"

const masked = (headers: Iterable<readonly [string, string]>): Array<readonly [string, string]> =>
  [...headers].map(([key, value]) => [key, SECRET_HEADER.test(key) ? MASK : value] as const)

/** A body as the page previews it: text when it is UTF-8 without control characters, else base64. */
const preview = (body: Uint8Array) => {
  const head = Buffer.from(body.subarray(0, PREVIEW_BYTES))
  const text = head.toString("utf8")
  const isText = !/[\u0000-\u0008\u000e-\u001f\ufffd]/.test(text)
  return {
    bytes: body.length,
    encoding: isText ? "utf8" : "base64",
    preview: isText ? text : head.toString("base64"),
    truncated: body.length > PREVIEW_BYTES
  }
}

const attemptView = (attempt: DeliveryAttempt, detail: string | undefined) => ({
  attempt: attempt.attempt,
  url: attempt.url,
  method: attempt.method,
  status: attempt.status ?? null,
  error: attempt.error ?? null,
  succeeded: attempt.succeeded,
  startedAt: attempt.startedAt.toISOString(),
  endedAt: attempt.endedAt.toISOString(),
  durationMs: attempt.endedAt.getTime() - attempt.startedAt.getTime(),
  headers: masked(Object.entries(attempt.headers)),
  body: preview(attempt.body),
  detail: detail === undefined ? null : detail.slice(0, DETAIL_CHARS)
})

const zeroCounts = (): Record<DashboardTaskState, number> => ({
  scheduled: 0,
  due: 0,
  running: 0,
  retrying: 0,
  succeeded: 0,
  dropped: 0,
  exhausted: 0,
  deleted: 0
})

const resultState = (result: TaskOutcome["result"]): DashboardTaskState =>
  result === "purged" ? "deleted" : result

/**
 * The page's state: queues with settings, state and counts; tasks with their attempts, each with
 * the `detail` that `attemptDetail` gives, if any.
 */
export const dashboardState = (
  engine: Engine,
  attemptDetail: (attempt: DeliveryAttempt) => string | undefined = () => undefined
) => {
  const views = engine.inspect()
  const taskView = (
    task: StoredTask,
    state: DashboardTaskState,
    attempts: ReadonlyArray<DeliveryAttempt>,
    finished: TaskOutcome | undefined
  ) => ({
    name: task.name,
    id: task.id,
    queue: task.queueName,
    state,
    result: finished?.result ?? null,
    target: task.request._tag === "Http" ? "http" : "appEngine",
    method: task.request.httpMethod,
    url: engine.urlOf(task),
    headers: masked(task.request.headers),
    body: preview(task.request.body),
    createTime: new Date(task.createTime).toISOString(),
    scheduleTime: new Date(task.scheduleTime).toISOString(),
    dispatchDeadlineMs: task.dispatchDeadlineMs,
    finishedAt: finished?.at.toISOString() ?? null,
    attempts: attempts.map((attempt) => attemptView(attempt, attemptDetail(attempt)))
  })
  const liveTasks = views.flatMap(({ tasks }) => tasks)
  const finishedTasks = engine.finished()
  const counts = new Map<string, Record<DashboardTaskState, number>>()
  const count = (queue: string, state: DashboardTaskState) => {
    let entry = counts.get(queue)
    if (entry === undefined) {
      entry = zeroCounts()
      counts.set(queue, entry)
    }
    entry[state]++
  }
  for (const { state, task } of liveTasks) count(task.queueName, state)
  for (const { outcome } of finishedTasks) count(outcome.queue, resultState(outcome.result))
  const live = liveTasks.slice(0, LIVE_SHOWN).map(({ state, task }) =>
    taskView(task, state, engine.attemptsOf(task.name), undefined)
  )
  const finished = finishedTasks.slice(-FINISHED_SHOWN).reverse().map(({ outcome, task }) =>
    taskView(task, resultState(outcome.result), outcome.attempts, outcome)
  )
  return {
    queues: views.map(({ queue }) => {
      const { rateLimits, retryConfig } = queue.settings
      return {
        name: queue.name,
        state: queue.state,
        rateLimits: { ...rateLimits },
        retryConfig: { ...retryConfig },
        counts: counts.get(queue.name) ?? zeroCounts()
      }
    }),
    tasks: [...live, ...finished]
  }
}

const json = (response: http.ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "content-length": Buffer.byteLength(text)
  }).end(text)
}

/** The page's actions, by `op`: each acts on a task or a queue by name and returns the name it acted on. */
export type DashboardActions = Readonly<
  Record<"run" | "delete" | "replay" | "purge" | "pause" | "resume", (name: string) => string>
>

/** The page's actions straight on `engine`: what the emulator's buttons do. */
export const engineActions = (engine: Engine): DashboardActions => ({
  run: (name) => engine.runTask(name).name,
  delete: (name) => {
    engine.deleteTask(name)
    return name
  },
  replay: (name) => engine.replayTask(name).name,
  purge: (name) => engine.purgeQueue(name).name,
  pause: (name) => engine.pauseQueue(name).name,
  resume: (name) => engine.resumeQueue(name).name
})

/** Options of {@link makeDashboard}. */
export interface DashboardOptions {
  /** What the buttons do (default: {@link engineActions}). */
  readonly actions?: DashboardActions | undefined
  /** The page's title (default: "Cloud Tasks emulator"). */
  readonly title?: string | undefined
  /**
   * What the page says of an attempt besides its request and status (the in-process queue: why
   * its handler failed). Default: nothing.
   */
  readonly attemptDetail?: ((attempt: DeliveryAttempt) => string | undefined) | undefined
  /**
   * Whether every request must name a loopback host (`127.0.0.1`, `localhost`, `[::1]`): for a
   * dashboard bound to 127.0.0.1 that no other name reaches. Default false (an emulator may be
   * reached under a container's name).
   */
  readonly loopbackOnly?: boolean | undefined
}

/** A loopback `Host`: what a browser sends for a page it loaded from 127.0.0.1. */
const LOOPBACK_HOST = /^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/i

/**
 * Why a request may not reach the dashboard, if it may not: an action whose `Origin` is another
 * site's (a page elsewhere posting to it, which browsers allow without asking), or, for a
 * dashboard that only serves loopback, a `Host` that is not a loopback name (another site's
 * name resolved to 127.0.0.1, DNS rebinding).
 */
const refused = (request: http.IncomingMessage, loopbackOnly: boolean): string | undefined => {
  const host = request.headers.host ?? ""
  if (loopbackOnly && !LOOPBACK_HOST.test(host)) {
    return `The dashboard answers only at a loopback address, not at ${JSON.stringify(host)}.`
  }
  const origin = request.headers.origin
  if (request.method === "POST" && origin !== undefined && origin !== `http://${host}`) {
    return `The dashboard's actions are refused to pages of another origin (${JSON.stringify(origin)}).`
  }
  return undefined
}

/** The dashboard's HTTP handling. */
export interface Dashboard {
  /** Answers a dashboard request; `false` when the path is not the dashboard's. */
  readonly handle: (request: http.IncomingMessage, response: http.ServerResponse) => boolean
  /** Ends every event stream. */
  readonly close: () => void
}

/** The dashboard of `engine`. */
export const makeDashboard = (engine: Engine, options: DashboardOptions = {}): Dashboard => {
  const actions = options.actions ?? engineActions(engine)
  const page = dashboardPage(options.title ?? "Cloud Tasks emulator")
  const streams = new Set<http.ServerResponse>()
  let pending: ReturnType<typeof setTimeout> | undefined
  const unsubscribe = engine.subscribe(() => {
    if (pending !== undefined || streams.size === 0) return
    pending = setTimeout(() => {
      pending = undefined
      for (const stream of streams) stream.write("event: change\ndata: {}\n\n")
    }, NOTIFY_EVERY_MS)
  })

  const handle = (request: http.IncomingMessage, response: http.ServerResponse): boolean => {
    const url = requestUrl(request)
    const method = request.method ?? "GET"
    if (url.pathname !== "/" && !url.pathname.startsWith("/_dashboard/")) return false
    const refusal = refused(request, options.loopbackOnly === true)
    if (refusal !== undefined) {
      const body = restErrorBody(new ApiError(Status.PERMISSION_DENIED, refusal))
      json(response, body.error.code, body)
      return true
    }
    if (url.pathname === "/" && (method === "GET" || method === "HEAD")) {
      response.writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        // Everything the page needs is in the page: nothing may load from elsewhere.
        "content-security-policy":
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:"
      }).end(method === "HEAD" ? undefined : page)
      return true
    }
    if (url.pathname === "/_dashboard/state" && method === "GET") {
      json(response, 200, dashboardState(engine, options.attemptDetail))
      return true
    }
    if (url.pathname === "/_dashboard/events" && method === "GET") {
      response.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        connection: "keep-alive"
      })
      response.write("retry: 1000\n\n")
      streams.add(response)
      response.on("close", () => streams.delete(response))
      return true
    }
    if (url.pathname === "/_dashboard/action" && method === "POST") {
      const name = url.searchParams.get("name") ?? ""
      const op = url.searchParams.get("op") ?? ""
      try {
        const action = Object.hasOwn(actions, op) ? actions[op as keyof DashboardActions] : undefined
        if (action === undefined) throw new ApiError(Status.INVALID_ARGUMENT, `Unknown dashboard action "${op}".`)
        json(response, 200, { name: action(name) })
      } catch (error) {
        const body = restErrorBody(toApiError(error))
        json(response, body.error.code, body)
      }
      return true
    }
    return false
  }

  const close = () => {
    unsubscribe()
    if (pending !== undefined) clearTimeout(pending)
    for (const stream of streams) stream.end()
    streams.clear()
  }

  return { handle, close }
}
