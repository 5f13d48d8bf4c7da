/**
 * The dashboard of a queue engine, served at `/` by the emulator on its port: the page (one
 * self-contained file, no network), its state as JSON (`/_dashboard/state`), a stream of change
 * notifications (`/_dashboard/events`, server-sent events, so the page updates without
 * reloading) and its actions (`POST /_dashboard/action?op=…&name=…`: run now, delete, purge,
 * pause, resume, replay). It needs nothing but an {@link Engine} (no gRPC runtime, no protos),
 * so any server holding an engine can mount it.
 *
 * The values of `X-Tasks-Auth` and `Authorization` never reach the page: they are masked in the
 * state before it is sent.
 *
 * @internal
 */
import type * as http from "node:http"
import { ApiError, Status } from "../engine/apiError.js"
import type { Engine, LiveTaskState } from "../engine/engine.js"
import type { DeliveryAttempt, StoredTask, TaskOutcome } from "../engine/model.js"
import { restErrorBody, toApiError } from "./apiStatus.js"
import { DASHBOARD_PAGE } from "./dashboardPage.js"
import { requestUrl } from "./requestUrl.js"

/** Header values the page never shows. */
const SECRET_HEADER = /^(x-tasks-auth|authorization)$/i

/** What the page shows of a masked value. */
export const MASK = "••••••••"

/** How many bytes of a body the page previews. */
const PREVIEW_BYTES = 2048

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

const attemptView = (attempt: DeliveryAttempt) => ({
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
  body: preview(attempt.body)
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

/** The page's state: queues with settings, state and counts; tasks with their attempts. */
export const dashboardState = (engine: Engine) => {
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
    attempts: attempts.map(attemptView)
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

/** What the page's buttons do, by `op`: each returns the name of the task or queue it acted on. */
const ACTIONS: Readonly<Record<string, (engine: Engine, name: string) => string>> = {
  run: (engine, name) => engine.runTask(name).name,
  delete: (engine, name) => {
    engine.deleteTask(name)
    return name
  },
  replay: (engine, name) => engine.replayTask(name).name,
  purge: (engine, name) => engine.purgeQueue(name).name,
  pause: (engine, name) => engine.pauseQueue(name).name,
  resume: (engine, name) => engine.resumeQueue(name).name
}

/** The dashboard's HTTP handling. */
export interface Dashboard {
  /** Answers a dashboard request; `false` when the path is not the dashboard's. */
  readonly handle: (request: http.IncomingMessage, response: http.ServerResponse) => boolean
  /** Ends every event stream. */
  readonly close: () => void
}

/** The dashboard of `engine`. */
export const makeDashboard = (engine: Engine): Dashboard => {
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
    if (url.pathname === "/" && (method === "GET" || method === "HEAD")) {
      response.writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        // Everything the page needs is in the page: nothing may load from elsewhere.
        "content-security-policy":
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:"
      }).end(method === "HEAD" ? undefined : DASHBOARD_PAGE)
      return true
    }
    if (url.pathname === "/_dashboard/state" && method === "GET") {
      json(response, 200, dashboardState(engine))
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
        const action = ACTIONS[op]
        if (action === undefined) throw new ApiError(Status.INVALID_ARGUMENT, `Unknown dashboard action "${op}".`)
        json(response, 200, { name: action(engine, name) })
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
