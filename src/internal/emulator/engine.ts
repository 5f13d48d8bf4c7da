/**
 * The emulator's engine: queues, tasks and tombstones, the API operations on them, and the
 * delivery of HTTP tasks (schedule, pause, rate limits, retries, deadlines, OIDC), with a log of
 * every attempt for tests to observe.
 *
 * API operations throw {@link ApiError}; the gRPC layer turns them into statuses.
 *
 * @internal
 */
import { randomBytes } from "node:crypto"
import { performance } from "node:perf_hooks"
import type { DeliveryAttempt, TaskOutcome } from "../../CloudTasksEmulator.js"
import {
  DEFAULT_DISPATCH_DEADLINE_MS,
  MAX_CONCURRENT_DISPATCHES,
  MAX_DISPATCH_DEADLINE_MS,
  MAX_DISPATCHES_PER_SECOND,
  MAX_HEADER_BYTES,
  MAX_PAGE_SIZE,
  MAX_SCHEDULE_AHEAD_MS,
  MAX_TASK_BYTES,
  MIN_DISPATCH_DEADLINE_MS,
  SERVICE_RESERVED_HEADER,
  USER_AGENT
} from "../limits.js"
import { Errors } from "./apiError.js"
import { mayRetry, parseRetryAfter, retryDelay, type RetrySettings } from "./backoff.js"
import { type Agents, deliver, type Delivery, type DeliveryResult, destroyAgents, makeAgents } from "./delivery.js"
import { MinHeap } from "./heap.js"
import {
  DEFAULT_QUEUE_SETTINGS,
  type HttpMethodName,
  type OAuthTokenSpec,
  type OidcTokenSpec,
  type QueueRunState,
  type QueueSettings,
  type StoredHttpRequest,
  type TaskState
} from "./model.js"
import { isLocationName, isQueueName, parseNewTaskName, parseTaskName, shortName, validateQueueName } from "./names.js"
import type { OidcIssuer } from "./oidc.js"
import { Status } from "./grpcRuntime.js"
import { storedTaskSize } from "./taskSize.js"
import { burstSizeFor, TokenBucket } from "./tokenBucket.js"

/** A change to a queue's settings; absent fields stay as they are. */
export interface SettingsPatch {
  readonly maxDispatchesPerSecond?: number
  readonly maxConcurrentDispatches?: number
  readonly maxAttempts?: number
  readonly maxRetryDurationMs?: number
  readonly minBackoffMs?: number
  readonly maxBackoffMs?: number
  readonly maxDoublings?: number
  readonly samplingRatio?: number
}

/** A task as `CreateTask` receives it. */
export interface NewTask {
  /** The full task name, or `""` for a generated ID. */
  readonly name: string
  readonly httpRequest: {
    readonly url: string
    readonly httpMethod: HttpMethodName | "HTTP_METHOD_UNSPECIFIED"
    readonly headers: ReadonlyArray<readonly [string, string]>
    readonly body: Buffer
    readonly oidcToken: OidcTokenSpec | undefined
    readonly oauthToken: OAuthTokenSpec | undefined
  } | undefined
  readonly scheduleTime: number | undefined
  readonly dispatchDeadlineMs: number | undefined
}

/** A queue and its delivery machinery. */
export interface QueueRuntime {
  readonly name: string
  settings: QueueSettings
  state: QueueRunState
  purgeTime: number | undefined
  iamPolicy: unknown
  readonly tasks: Map<string, TaskState>
  readonly due: MinHeap<DueEntry>
  readonly bucket: TokenBucket
  running: number
  timer: NodeJS.Timeout | undefined
  timerAt: number
}

interface DueEntry {
  readonly at: number
  readonly seq: number
  readonly version: number
  readonly task: TaskState
}

/** A page of a listing. */
export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly nextPageToken: string
}

/** What the engine needs. */
export interface EngineOptions {
  readonly clock: () => number
  readonly dedupWindowMs: number
  readonly queueReuseWindowMs: number
  readonly minDispatchDeadlineMs: number
  readonly oidc: OidcIssuer
  readonly attemptLogLimit: number
  readonly onAttempt: ((attempt: DeliveryAttempt) => void) | undefined
}

/** A filter on recorded attempts. */
export interface AttemptFilter {
  readonly task?: string | undefined
  readonly queue?: string | undefined
}

interface Waiter {
  readonly check: () => boolean
  readonly resolve: () => void
  readonly reject: (error: Error) => void
  readonly timer: NodeJS.Timeout
}

const MAX_TIMER_MS = 2 ** 31 - 1

const STATUS_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Status).map(([name, code]) => [code, name])
)

/** The RPC status Cloud Tasks records for an HTTP response status. */
const statusForHttp = (status: number): { readonly code: number; readonly message: string } => {
  const code = status >= 200 && status < 300
    ? Status.OK
    : status === 400
    ? Status.INVALID_ARGUMENT
    : status === 401
    ? Status.UNAUTHENTICATED
    : status === 403
    ? Status.PERMISSION_DENIED
    : status === 404
    ? Status.NOT_FOUND
    : status === 409
    ? Status.ABORTED
    : status === 429
    ? Status.RESOURCE_EXHAUSTED
    : status === 499
    ? Status.CANCELLED
    : status === 501
    ? Status.UNIMPLEMENTED
    : status === 503
    ? Status.UNAVAILABLE
    : status === 504
    ? Status.DEADLINE_EXCEEDED
    : status >= 400 && status < 500
    ? Status.FAILED_PRECONDITION
    : status >= 500 && status < 600
    ? Status.INTERNAL
    : Status.UNKNOWN
  return { code, message: `${STATUS_NAMES[code]}(${code}): HTTP status code ${status}` }
}

const formatDuration = (ms: number): string =>
  ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`

/** RFC 3339 in US Pacific time, as the service renders a schedule time in its error. */
const renderPacific = (ms: number): string => {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone: "America/Los_Angeles",
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      timeZoneName: "longOffset"
    }).formatToParts(new Date(ms)).map((part) => [part.type, part.value])
  )
  const offset = String(parts.timeZoneName ?? "GMT").replace("GMT", "") || "+00:00"
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}${offset}`
}

const generatedTaskId = (): string =>
  (randomBytes(8).readBigUInt64BE(0) % 10n ** 20n).toString().padStart(20, "0")

const encodePageToken = (after: string): string => Buffer.from(JSON.stringify({ after })).toString("base64url")

const decodePageToken = (token: string): string | undefined => {
  if (token === "") return undefined
  try {
    const decoded: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"))
    if (typeof decoded === "object" && decoded !== null && "after" in decoded && typeof decoded.after === "string") {
      return decoded.after
    }
  } catch {
    // fall through
  }
  throw Errors.invalidPageToken()
}

const paginate = <A>(
  items: ReadonlyArray<A>,
  nameOf: (a: A) => string,
  pageSize: number,
  pageToken: string
): Page<A> => {
  if (pageSize < 0) throw Errors.invalidPageSize()
  const size = pageSize === 0 ? MAX_PAGE_SIZE : Math.min(pageSize, MAX_PAGE_SIZE)
  const after = decodePageToken(pageToken)
  const sorted = [...items].sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0))
  const rest = after === undefined ? sorted : sorted.filter((item) => nameOf(item) > after)
  const page = rest.slice(0, size)
  const last = page[page.length - 1]
  return {
    items: page,
    nextPageToken: rest.length > size && last !== undefined ? encodePageToken(nameOf(last)) : ""
  }
}

/** Applies a patch to settings and validates the result as the service does. */
export const applySettings = (base: QueueSettings, patch: SettingsPatch): QueueSettings => {
  const rate = patch.maxDispatchesPerSecond ?? base.rateLimits.maxDispatchesPerSecond
  const concurrent = patch.maxConcurrentDispatches ?? base.rateLimits.maxConcurrentDispatches
  const retry: RetrySettings = {
    maxAttempts: patch.maxAttempts ?? base.retryConfig.maxAttempts,
    maxRetryDurationMs: patch.maxRetryDurationMs ?? base.retryConfig.maxRetryDurationMs,
    minBackoffMs: patch.minBackoffMs ?? base.retryConfig.minBackoffMs,
    maxBackoffMs: patch.maxBackoffMs ?? base.retryConfig.maxBackoffMs,
    maxDoublings: patch.maxDoublings ?? base.retryConfig.maxDoublings
  }
  if (rate < 0) throw Errors.maxDispatchesNegative()
  if (rate > MAX_DISPATCHES_PER_SECOND) throw Errors.maxDispatchesTooHigh()
  if (concurrent < 0) throw Errors.maxConcurrentNegative()
  if (concurrent > MAX_CONCURRENT_DISPATCHES) throw Errors.maxConcurrentTooHigh()
  if (retry.maxAttempts < -1) throw Errors.maxAttemptsRange()
  if (retry.maxDoublings < 0) throw Errors.maxDoublingsNegative()
  if (retry.minBackoffMs < 0) throw Errors.minBackoffNegative()
  if (retry.maxBackoffMs < 0) throw Errors.maxBackoffNegative()
  if (retry.minBackoffMs > retry.maxBackoffMs) throw Errors.backoffOrder()
  return {
    rateLimits: { maxDispatchesPerSecond: rate, maxConcurrentDispatches: concurrent },
    retryConfig: retry,
    samplingRatio: patch.samplingRatio ?? base.samplingRatio
  }
}

/** The emulator's state and delivery. */
export class Engine {
  private readonly queues = new Map<string, QueueRuntime>()
  private readonly queueTombstones = new Map<string, number>()
  private readonly taskTombstones = new Map<string, number>()
  private readonly deliveries = new Set<Delivery>()
  private readonly log: Array<DeliveryAttempt> = []
  private readonly outcomes = new Map<string, TaskOutcome>()
  private readonly liveAttempts = new Map<string, Array<DeliveryAttempt>>()
  private readonly waiters = new Set<Waiter>()
  private readonly agents: Agents = makeAgents()
  private seq = 0
  private closed = false

  constructor(private readonly options: EngineOptions) {}

  private now(): number {
    return this.options.clock()
  }

  // ---------------------------------------------------------------------------------------
  // Queues

  /** `CreateQueue`. */
  createQueue(parent: string, name: string, patch: SettingsPatch): QueueRuntime {
    if (!isQueueName(name)) throw Errors.invalidQueueName()
    if (!isLocationName(parent)) throw Errors.invalidParent()
    if (!name.startsWith(`${parent}/queues/`)) throw Errors.queueParentMismatch(name, parent)
    if (this.queues.has(name)) throw Errors.queueAlreadyExists()
    if (this.isTombstoned(this.queueTombstones, name)) throw Errors.queueExistedRecently()
    return this.addQueue(name, applySettings(DEFAULT_QUEUE_SETTINGS, patch))
  }

  /** Creates a queue outside the API (start options), replacing nothing. */
  ensureQueue(name: string, patch: SettingsPatch): QueueRuntime {
    validateQueueName(name)
    const existing = this.queues.get(name)
    if (existing !== undefined) return existing
    return this.addQueue(name, applySettings(DEFAULT_QUEUE_SETTINGS, patch))
  }

  private addQueue(name: string, settings: QueueSettings): QueueRuntime {
    const rate = settings.rateLimits.maxDispatchesPerSecond
    const queue: QueueRuntime = {
      name,
      settings,
      state: "RUNNING",
      purgeTime: undefined,
      iamPolicy: undefined,
      tasks: new Map(),
      due: new MinHeap<DueEntry>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq)),
      bucket: new TokenBucket(rate, burstSizeFor(rate)),
      running: 0,
      timer: undefined,
      timerAt: 0
    }
    this.queues.set(name, queue)
    return queue
  }

  /** The queue `name`, or the service's NOT_FOUND. */
  requireQueue(name: string): QueueRuntime {
    const queue = this.queues.get(name)
    if (queue === undefined) {
      if (!isQueueName(name)) throw Errors.invalidQueueName()
      throw Errors.queueNotFound()
    }
    return queue
  }

  /** `ListQueues`. */
  listQueues(parent: string, pageSize: number, pageToken: string): Page<QueueRuntime> {
    if (!isLocationName(parent)) throw Errors.invalidParent()
    const prefix = `${parent}/queues/`
    const queues = [...this.queues.values()].filter((queue) => queue.name.startsWith(prefix))
    return paginate(queues, (queue) => queue.name, pageSize, pageToken)
  }

  /** `UpdateQueue`: creates the queue when it does not exist, as the service does. */
  updateQueue(name: string, patch: SettingsPatch): QueueRuntime {
    if (!isQueueName(name)) throw Errors.invalidQueueName()
    const queue = this.queues.get(name)
    if (queue === undefined) {
      if (this.isTombstoned(this.queueTombstones, name)) throw Errors.queueExistedRecently()
      return this.addQueue(name, applySettings(DEFAULT_QUEUE_SETTINGS, patch))
    }
    queue.settings = applySettings(queue.settings, patch)
    const rate = queue.settings.rateLimits.maxDispatchesPerSecond
    queue.bucket.reconfigure(rate, burstSizeFor(rate))
    this.pump(queue)
    return queue
  }

  /** `DeleteQueue`. */
  deleteQueue(name: string): void {
    const queue = this.queues.get(name)
    if (queue === undefined) throw Errors.entityNotFound()
    for (const task of [...queue.tasks.values()]) this.finish(queue, task, "deleted", false)
    this.clearTimer(queue)
    queue.due.clear()
    this.queues.delete(name)
    this.queueTombstones.set(name, this.now() + this.options.queueReuseWindowMs)
  }

  /** `PurgeQueue`: deletes every task created up to now. */
  purgeQueue(name: string): QueueRuntime {
    const queue = this.requireQueue(name)
    const now = this.now()
    queue.purgeTime = now
    for (const task of [...queue.tasks.values()]) {
      if (task.createTime <= now) this.finish(queue, task, "purged", true)
    }
    return queue
  }

  /** `PauseQueue`. */
  pauseQueue(name: string): QueueRuntime {
    const queue = this.requireQueue(name)
    queue.state = "PAUSED"
    this.clearTimer(queue)
    return queue
  }

  /** `ResumeQueue`. */
  resumeQueue(name: string): QueueRuntime {
    const queue = this.requireQueue(name)
    queue.state = "RUNNING"
    this.pump(queue)
    return queue
  }

  // ---------------------------------------------------------------------------------------
  // Tasks

  /** `CreateTask`. */
  createTask(parent: string, input: NewTask): TaskState {
    if (!isQueueName(parent)) throw Errors.invalidQueueName()
    const namedId = input.name === "" ? undefined : parseNewTaskName(parent, input.name)
    const queue = this.requireQueue(parent)
    const now = this.now()
    const request = this.storedRequest(input)
    const deadline = input.dispatchDeadlineMs === undefined || input.dispatchDeadlineMs === 0
      ? DEFAULT_DISPATCH_DEADLINE_MS
      : input.dispatchDeadlineMs
    if (deadline < this.options.minDispatchDeadlineMs || deadline > MAX_DISPATCH_DEADLINE_MS) {
      throw Errors.dispatchDeadlineRange(formatDuration(MIN_DISPATCH_DEADLINE_MS), formatDuration(MAX_DISPATCH_DEADLINE_MS))
    }
    const scheduleTime = input.scheduleTime === undefined || input.scheduleTime === 0 ? now : input.scheduleTime
    if (scheduleTime > now + MAX_SCHEDULE_AHEAD_MS) throw Errors.scheduleTooFar(renderPacific(scheduleTime))

    let id = namedId
    if (id === undefined) {
      do id = generatedTaskId()
      while (queue.tasks.has(`${parent}/tasks/${id}`))
    }
    const name = `${parent}/tasks/${id}`
    if (queue.tasks.has(name) || this.isTombstoned(this.taskTombstones, name)) throw Errors.taskAlreadyExists()
    if (storedTaskSize({ name, scheduleTime, createTime: now, dispatchDeadlineMs: deadline, request }) > MAX_TASK_BYTES) {
      throw Errors.taskTooLarge()
    }
    this.sweepTombstones()
    const task: TaskState = {
      name,
      id,
      queueName: parent,
      request,
      createTime: now,
      dispatchDeadlineMs: deadline,
      seq: this.seq++,
      scheduleTime,
      dispatchCount: 0,
      responseCount: 0,
      executionCount: 0,
      previousResponse: undefined,
      firstAttempt: undefined,
      lastAttempt: undefined,
      firstAttemptAt: undefined,
      running: false,
      version: 0,
      removed: false
    }
    queue.tasks.set(name, task)
    this.enqueue(queue, task)
    // Dispatch after the response is built, so CreateTask returns the task as created.
    if (queue.state === "RUNNING") this.wakeIn(queue, 0)
    return task
  }

  private storedRequest(input: NewTask): StoredHttpRequest {
    const http = input.httpRequest
    if (http === undefined) throw Errors.httpRequestRequired()
    if (http.url === "") throw Errors.urlRequired()
    if (!/^https?:\/\//i.test(http.url) || !URL.canParse(http.url)) throw Errors.urlScheme()
    const method: HttpMethodName = http.httpMethod === "HTTP_METHOD_UNSPECIFIED" ? "POST" : http.httpMethod
    if (http.body.length > 0 && method !== "POST" && method !== "PUT" && method !== "PATCH") {
      throw Errors.bodyNotAllowed(method)
    }
    const headers: Array<readonly [string, string]> = http.headers.filter(([key]) => !SERVICE_RESERVED_HEADER.test(key))
    headers.push(["User-Agent", USER_AGENT])
    const headerBytes = headers.reduce((sum, [key, value]) => sum + Buffer.byteLength(key) + Buffer.byteLength(value) + 4, 0)
    if (headerBytes >= MAX_HEADER_BYTES) throw Errors.headersTooLarge()
    return {
      url: http.url,
      httpMethod: method,
      headers,
      body: http.body,
      oidcToken: http.oidcToken,
      oauthToken: http.oidcToken === undefined ? http.oauthToken : undefined
    }
  }

  /** `GetTask`. */
  getTask(name: string): TaskState {
    return this.requireTask(name).task
  }

  /** `ListTasks`. */
  listTasks(parent: string, pageSize: number, pageToken: string): Page<TaskState> {
    const queue = this.requireQueue(parent)
    return paginate([...queue.tasks.values()], (task) => task.name, pageSize, pageToken)
  }

  /** `DeleteTask`. */
  deleteTask(name: string): void {
    const { queue, task } = this.requireTask(name)
    this.finish(queue, task, "deleted", true)
  }

  /** `RunTask`: dispatches now, even when the queue is paused or out of tokens. */
  runTask(name: string): TaskState {
    const { queue, task } = this.requireTask(name)
    if (!task.running) {
      task.version++
      this.dispatch(queue, task)
    }
    return task
  }

  private requireTask(name: string): { readonly queue: QueueRuntime; readonly task: TaskState } {
    const parsed = parseTaskName(name)
    if (parsed === undefined) throw Errors.invalidTaskName()
    const queue = this.requireQueue(parsed.queue)
    const task = queue.tasks.get(name)
    if (task === undefined) {
      throw this.isTombstoned(this.taskTombstones, name) ? Errors.taskExistedRecently() : Errors.entityNotFound()
    }
    return { queue, task }
  }

  private isTombstoned(tombstones: Map<string, number>, name: string): boolean {
    const until = tombstones.get(name)
    if (until === undefined) return false
    if (until <= this.now()) {
      tombstones.delete(name)
      return false
    }
    return true
  }

  private sweepTombstones(): void {
    if (this.seq % 1024 !== 0) return
    const now = this.now()
    for (const [name, until] of this.taskTombstones) if (until <= now) this.taskTombstones.delete(name)
  }

  // ---------------------------------------------------------------------------------------
  // Delivery

  private enqueue(queue: QueueRuntime, task: TaskState): void {
    queue.due.push({ at: task.scheduleTime, seq: task.seq, version: task.version, task })
  }

  /** Dispatches every task that is due, as far as pause, tokens and concurrency allow. */
  private pump(queue: QueueRuntime): void {
    if (this.closed || queue.state !== "RUNNING" || this.queues.get(queue.name) !== queue) {
      this.clearTimer(queue)
      return
    }
    const now = this.now()
    for (;;) {
      const entry = queue.due.peek()
      if (entry === undefined) return this.clearTimer(queue)
      if (entry.version !== entry.task.version || entry.task.removed || entry.task.running) {
        queue.due.pop()
        continue
      }
      if (entry.at > now) return this.wakeIn(queue, entry.at - now)
      if (queue.running >= queue.settings.rateLimits.maxConcurrentDispatches) return this.clearTimer(queue)
      if (!queue.bucket.tryTake()) return this.wakeIn(queue, queue.bucket.msUntilToken())
      queue.due.pop()
      this.dispatch(queue, entry.task)
    }
  }

  private wakeIn(queue: QueueRuntime, ms: number): void {
    if (!Number.isFinite(ms)) return this.clearTimer(queue)
    const at = performance.now() + ms
    if (queue.timer !== undefined && queue.timerAt <= at + 0.5) return
    this.clearTimer(queue)
    queue.timerAt = at
    queue.timer = setTimeout(() => {
      queue.timer = undefined
      this.pump(queue)
    }, Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(ms))))
  }

  private clearTimer(queue: QueueRuntime): void {
    if (queue.timer !== undefined) {
      clearTimeout(queue.timer)
      queue.timer = undefined
    }
  }

  private dispatch(queue: QueueRuntime, task: TaskState): void {
    const now = this.now()
    const retryCount = task.dispatchCount
    task.running = true
    queue.running++
    task.dispatchCount++
    if (task.firstAttempt === undefined) {
      task.firstAttempt = { scheduleTime: undefined, dispatchTime: now, responseTime: undefined, responseStatus: undefined }
      task.firstAttemptAt = now
    }
    task.lastAttempt = { scheduleTime: task.scheduleTime, dispatchTime: now, responseTime: undefined, responseStatus: undefined }
    const headers = this.dispatchHeaders(queue, task, retryCount, now)
    const attempt = task.dispatchCount
    const delivery = deliver(this.agents, {
      url: task.request.url,
      method: task.request.httpMethod,
      headers,
      body: task.request.body,
      deadlineMs: task.dispatchDeadlineMs
    })
    this.deliveries.add(delivery)
    void delivery.result.then((result) => {
      this.deliveries.delete(delivery)
      this.complete(queue, task, result, { headers, startedAt: now, attempt })
    })
  }

  /** The request headers of an attempt, as the facts file records them. */
  private dispatchHeaders(
    queue: QueueRuntime,
    task: TaskState,
    retryCount: number,
    now: number
  ): ReadonlyArray<readonly [string, string]> {
    const injected: Array<readonly [string, string]> = [
      ["X-CloudTasks-QueueName", shortName(queue.name)],
      ["X-CloudTasks-TaskName", task.id],
      ["X-CloudTasks-TaskRetryCount", String(retryCount)],
      ["X-CloudTasks-TaskExecutionCount", String(task.executionCount)],
      ["X-CloudTasks-TaskETA", (task.scheduleTime / 1000).toFixed(6)]
    ]
    if (retryCount > 0) {
      if (task.previousResponse !== undefined) {
        injected.push(["X-CloudTasks-TaskPreviousResponse", String(task.previousResponse)])
      }
      injected.push(["X-CloudTasks-TaskRetryReason", ""])
    }
    const { oidcToken, oauthToken } = task.request
    if (oidcToken !== undefined) {
      const audience = oidcToken.audience === "" ? task.request.url : oidcToken.audience
      injected.push(["Authorization", `Bearer ${this.options.oidc.idToken(oidcToken.serviceAccountEmail, audience, now)}`])
    } else if (oauthToken !== undefined) {
      injected.push(["Authorization", `Bearer ya29.emulator-${randomBytes(24).toString("base64url")}`])
    }
    const overridden = new Set(injected.map(([key]) => key.toLowerCase()))
    const url = new URL(task.request.url)
    return [
      ["Host", url.host],
      ...task.request.headers.filter(([key]) => !overridden.has(key.toLowerCase())),
      ...injected
    ]
  }

  private complete(
    queue: QueueRuntime,
    task: TaskState,
    result: DeliveryResult,
    meta: { readonly headers: ReadonlyArray<readonly [string, string]>; readonly startedAt: number; readonly attempt: number }
  ): void {
    queue.running--
    task.running = false
    if (result._tag === "Aborted" || this.closed) return
    const now = this.now()
    const headers: Record<string, string> = {}
    for (const [key, value] of meta.headers) headers[key] = value
    const sendsBody = ["POST", "PUT", "PATCH"].includes(task.request.httpMethod)
    if (sendsBody) headers["Content-Length"] = String(task.request.body.length)
    const status = result._tag === "Response" ? result.status : undefined
    const succeeded = status !== undefined && status >= 200 && status < 300
    this.record({
      task: task.name,
      queue: queue.name,
      attempt: meta.attempt,
      url: task.request.url,
      method: task.request.httpMethod,
      headers,
      body: new Uint8Array(sendsBody ? task.request.body : Buffer.alloc(0)),
      status,
      error: result._tag === "DeadlineExceeded"
        ? `DEADLINE_EXCEEDED: no response within the dispatch deadline of ${task.dispatchDeadlineMs} ms`
        : result._tag === "Failed"
        ? `UNAVAILABLE: ${result.message}`
        : undefined,
      succeeded,
      startedAt: new Date(meta.startedAt),
      endedAt: new Date(now)
    }, task)

    if (task.removed || this.queues.get(queue.name) !== queue) {
      this.pump(queue)
      return
    }
    const responseStatus = status !== undefined
      ? statusForHttp(status)
      : result._tag === "DeadlineExceeded"
      ? { code: Status.DEADLINE_EXCEEDED, message: "DEADLINE_EXCEEDED(4): The request deadline was exceeded" }
      : { code: Status.UNAVAILABLE, message: `UNAVAILABLE(14): ${result._tag === "Failed" ? result.message : ""}` }
    task.lastAttempt = { ...task.lastAttempt!, responseTime: now, responseStatus }
    if (status !== undefined) {
      task.responseCount++
      if (!(status >= 500 || status === 429)) task.executionCount++
    }
    task.previousResponse = status

    if (succeeded) {
      this.finish(queue, task, "succeeded", true)
    } else if (!mayRetry(queue.settings.retryConfig, task.dispatchCount, task.firstAttemptAt ?? now, now)) {
      this.finish(queue, task, "exhausted", true)
    } else {
      const retryAfter = result._tag === "Response" ? parseRetryAfter(result.retryAfter, Date.now()) : undefined
      task.scheduleTime = now + retryDelay(queue.settings.retryConfig, task.dispatchCount, status, retryAfter)
      task.version++
      this.enqueue(queue, task)
    }
    this.pump(queue)
  }

  /** Removes a task for good, leaving a tombstone that blocks its name for the dedup window. */
  private finish(queue: QueueRuntime, task: TaskState, result: TaskOutcome["result"], tombstone: boolean): void {
    task.removed = true
    task.version++
    queue.tasks.delete(task.name)
    const now = this.now()
    if (tombstone) this.taskTombstones.set(task.name, now + this.options.dedupWindowMs)
    const attempts = this.liveAttempts.get(task.name) ?? []
    this.liveAttempts.delete(task.name)
    this.outcomes.delete(task.name)
    this.outcomes.set(task.name, {
      task: task.name,
      queue: queue.name,
      result,
      attempts,
      at: new Date(now)
    })
    while (this.outcomes.size > this.options.attemptLogLimit) {
      const oldest = this.outcomes.keys().next()
      if (oldest.done === true) break
      this.outcomes.delete(oldest.value)
    }
    this.notify()
  }

  // ---------------------------------------------------------------------------------------
  // Observation

  private record(attempt: DeliveryAttempt, task: TaskState): void {
    this.log.push(attempt)
    if (!task.removed) {
      const attempts = this.liveAttempts.get(task.name)
      if (attempts === undefined) this.liveAttempts.set(task.name, [attempt])
      else attempts.push(attempt)
    }
    if (this.log.length > this.options.attemptLogLimit) this.log.splice(0, this.log.length - this.options.attemptLogLimit)
    try {
      this.options.onAttempt?.(attempt)
    } catch {
      // an observer's failure must not break delivery
    }
    this.notify()
  }

  /** Recorded attempts, oldest first. */
  attempts(filter: AttemptFilter = {}): ReadonlyArray<DeliveryAttempt> {
    return this.log.filter((attempt) =>
      (filter.task === undefined || attempt.task === filter.task) &&
      (filter.queue === undefined || attempt.queue === filter.queue)
    )
  }

  /**
   * How the task `name` ended, if it has finished and no task of that name is live again (a
   * name reused after the dedup window waits for the new task).
   */
  outcome(name: string): TaskOutcome | undefined {
    const parsed = parseTaskName(name)
    if (parsed !== undefined && this.queues.get(parsed.queue)?.tasks.has(name) === true) return undefined
    return this.outcomes.get(name)
  }

  /** Resolves when `check` holds, fails after `timeoutMs`. */
  waitUntil(check: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
    if (check()) return Promise.resolve()
    if (this.closed) return Promise.reject(new Error(`The emulator is stopped; ${describe()}`))
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        check,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter)
          reject(new Error(`Timed out after ${timeoutMs} ms: ${describe()}`))
        }, Math.min(MAX_TIMER_MS, timeoutMs))
      }
      this.waiters.add(waiter)
    })
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) {
      if (waiter.check()) {
        this.waiters.delete(waiter)
        clearTimeout(waiter.timer)
        waiter.resolve()
      }
    }
  }

  // ---------------------------------------------------------------------------------------

  /** Stops delivery: clears every timer, aborts every request, fails every waiter. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const queue of this.queues.values()) this.clearTimer(queue)
    for (const delivery of this.deliveries) delivery.abort()
    this.deliveries.clear()
    destroyAgents(this.agents)
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer)
      waiter.reject(new Error("The Cloud Tasks emulator stopped"))
    }
    this.waiters.clear()
  }
}
