/**
 * The API store of the engine: queues, their tasks, and the tombstones that keep the names of
 * deleted queues and of tasks that ran or were deleted taken for a while. It validates what
 * the API receives (resource names, queue settings, new tasks) the way Cloud Tasks does and
 * throws {@link ApiError} with the service's status and message.
 *
 * The store does not deliver: the scheduler reads and updates the delivery state of its tasks.
 *
 * @internal
 */
import { Churn } from "../churn.js"
import {
  APP_ENGINE_DEFAULT_CONTENT_TYPE,
  APP_ENGINE_USER_AGENT,
  DEFAULT_DISPATCH_DEADLINE_MS,
  MAX_APP_ENGINE_DISPATCH_DEADLINE_MS,
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
import type { EngineClock } from "./clock.js"
import {
  appEngineMethodSendsBody,
  DEFAULT_QUEUE_SETTINGS,
  type HttpMethodName,
  methodSendsBody,
  type NewTask,
  type Page,
  type QueueRunState,
  type QueueSettings,
  type RetrySettings,
  type SettingsPatch,
  type StoredQueue,
  type StoredRequest,
  type StoredTask
} from "./model.js"
import { isLocationName, isQueueName, parseNewTaskName, parseTaskName, validateQueueName } from "./names.js"
import { storedTaskSize } from "./taskSize.js"

/** What the store needs. */
export interface StoreOptions {
  readonly clock: EngineClock
  /** How long the name of a task that ran or was deleted stays taken. */
  readonly dedupWindowMs: number
  /** How long the name of a deleted queue cannot be used again. */
  readonly queueReuseWindowMs: number
  /** The smallest `dispatchDeadline` accepted. */
  readonly minDispatchDeadlineMs: number
  /**
   * Whether a task whose ID was generated keeps its name taken after it ends, as Cloud
   * Tasks does (default true). An in-process queue, whose generated IDs nobody can
   * reuse, keeps tombstones for named tasks only.
   */
  readonly tombstoneGenerated?: boolean | undefined
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

const formatDuration = (ms: number): string =>
  ms % 3_600_000 === 0 && ms >= 86_400_000
    ? `${ms / 3_600_000}h`
    : ms % 60_000 === 0
    ? `${ms / 60_000}m`
    : ms % 1000 === 0
    ? `${ms / 1000}s`
    : `${ms}ms`

/** The URL last found valid: a task's URL is usually the one before it (benchmark B5). */
let validUrl = ""

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

/** "0000" to "9999", made once: a task ID is generated per task (benchmark B5). */
let fourDigits: ReadonlyArray<string> | undefined

/**
 * A task ID as the service generates them: 20 decimal digits (random, not secret). Picked four
 * digits at a time from a table, which is cheaper than making numbers into text.
 */
const generatedTaskId = (): string => {
  const digits = fourDigits ??= Array.from({ length: 10_000 }, (_, i) => String(10_000 + i).slice(1))
  const pick = () => digits[Math.floor(Math.random() * 10_000)]!
  return pick() + pick() + pick() + pick() + pick()
}

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

/** One page of `items` in name order, after the item named by `pageToken`. */
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

const headerBytes = (headers: ReadonlyArray<readonly [string, string]>): number =>
  headers.reduce((sum, [key, value]) => sum + Buffer.byteLength(key) + Buffer.byteLength(value) + 4, 0)

/** The caller's headers without those the service computes or reserves, in the caller's order and casing. */
const callerHeaders = (headers: ReadonlyArray<readonly [string, string]>): Array<readonly [string, string]> =>
  headers.filter(([key]) => !SERVICE_RESERVED_HEADER.test(key))

/** The request of a new task as the service stores it, or the service's error. */
const storedRequest = (input: NewTask): StoredRequest => {
  const http = input.httpRequest
  const appEngine = input.appEngineHttpRequest
  if (http === undefined && appEngine !== undefined) {
    const method: HttpMethodName = appEngine.httpMethod === "HTTP_METHOD_UNSPECIFIED" ? "POST" : appEngine.httpMethod
    const relativeUri = appEngine.relativeUri === "" ? "/" : appEngine.relativeUri
    if (!relativeUri.startsWith("/")) throw Errors.relativeUri()
    if (appEngine.body.length > 0 && !appEngineMethodSendsBody(method)) throw Errors.appEngineBodyNotAllowed(method)
    const headers = callerHeaders(appEngine.headers)
    headers.push(["User-Agent", APP_ENGINE_USER_AGENT])
    if (appEngine.body.length > 0) {
      if (!headers.some(([key]) => key.toLowerCase() === "content-type")) {
        headers.push(["Content-Type", APP_ENGINE_DEFAULT_CONTENT_TYPE])
      }
      headers.push(["Content-Length", String(appEngine.body.length)])
    }
    if (headerBytes(headers) >= MAX_HEADER_BYTES) throw Errors.headersTooLarge()
    return { _tag: "AppEngine", relativeUri, routing: appEngine.routing, httpMethod: method, headers, body: appEngine.body }
  }
  if (http === undefined) throw Errors.targetRequired()
  if (http.url === "") throw Errors.urlRequired()
  if (http.url !== validUrl) {
    if (!/^https?:\/\//i.test(http.url) || !URL.canParse(http.url)) throw Errors.urlScheme()
    validUrl = http.url
  }
  const method: HttpMethodName = http.httpMethod === "HTTP_METHOD_UNSPECIFIED" ? "POST" : http.httpMethod
  if (http.body.length > 0 && !methodSendsBody(method)) throw Errors.bodyNotAllowed(method)
  const headers = callerHeaders(http.headers)
  headers.push(["User-Agent", USER_AGENT])
  if (headerBytes(headers) >= MAX_HEADER_BYTES) throw Errors.headersTooLarge()
  return {
    _tag: "Http",
    url: http.url,
    httpMethod: method,
    headers,
    body: http.body,
    oidcToken: http.oidcToken,
    oauthToken: http.oidcToken === undefined ? http.oauthToken : undefined
  }
}

/** Queues, tasks and tombstones. */
export class Store {
  private readonly queues = new Map<string, StoredQueue>()
  private readonly queueTombstones = new Map<string, number>()
  private readonly taskTombstones = new Map<string, number>()
  /** Removals from the queues' task maps, any queue's (`Churn`). */
  private readonly taskChurn = new Churn()
  private seq = 0

  constructor(private readonly options: StoreOptions) {}

  private now(): number {
    return this.options.clock.now()
  }

  // ---------------------------------------------------------------------------------------
  // Queues

  /** `CreateQueue`. */
  createQueue(parent: string, name: string, patch: SettingsPatch): StoredQueue {
    if (!isQueueName(name)) throw Errors.invalidQueueName()
    if (!isLocationName(parent)) throw Errors.invalidParent(parent)
    if (!name.startsWith(`${parent}/queues/`)) throw Errors.queueParentMismatch(name, parent)
    if (this.queues.has(name)) throw Errors.queueAlreadyExists()
    if (this.isTombstoned(this.queueTombstones, name)) throw Errors.queueExistedRecently()
    return this.addQueue(name, applySettings(DEFAULT_QUEUE_SETTINGS, patch))
  }

  /** The queue `name`, created with `patch` if it does not exist (start options, outside the API). */
  ensureQueue(name: string, patch: SettingsPatch, throttled = true): StoredQueue {
    validateQueueName(name)
    const existing = this.queues.get(name)
    if (existing !== undefined) return existing
    const settings = applySettings(DEFAULT_QUEUE_SETTINGS, patch)
    return this.addQueue(
      name,
      throttled ? settings : { ...settings, rateLimits: { maxDispatchesPerSecond: Infinity, maxConcurrentDispatches: Infinity } }
    )
  }

  /** `UpdateQueue`: changes the settings, or creates the queue when it does not exist, as the service does. */
  updateQueue(name: string, patch: SettingsPatch): StoredQueue {
    if (!isQueueName(name)) throw Errors.invalidQueueName()
    const queue = this.queues.get(name)
    if (queue === undefined) {
      if (this.isTombstoned(this.queueTombstones, name)) throw Errors.queueExistedRecently()
      return this.addQueue(name, applySettings(DEFAULT_QUEUE_SETTINGS, patch))
    }
    queue.settings = applySettings(queue.settings, patch)
    return queue
  }

  private addQueue(name: string, settings: QueueSettings): StoredQueue {
    const queue: StoredQueue = { name, settings, state: "RUNNING", purgeTime: undefined, iamPolicy: undefined, tasks: new Map() }
    this.queues.set(name, queue)
    return queue
  }

  /** Every queue, in name order. */
  allQueues(): ReadonlyArray<StoredQueue> {
    return [...this.queues.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  /** The queue `name`, or the service's NOT_FOUND. */
  requireQueue(name: string): StoredQueue {
    const queue = this.queues.get(name)
    if (queue === undefined) {
      if (!isQueueName(name)) throw Errors.invalidQueueName()
      throw Errors.queueNotFound()
    }
    return queue
  }

  /** Whether `queue` is the stored queue of its name (not deleted, nor replaced by a new one). */
  isCurrent(queue: StoredQueue): boolean {
    return this.queues.get(queue.name) === queue
  }

  /** `ListQueues`. */
  listQueues(parent: string, pageSize: number, pageToken: string): Page<StoredQueue> {
    if (!isLocationName(parent)) throw Errors.invalidParent(parent)
    const prefix = `${parent}/queues/`
    const queues = [...this.queues.values()].filter((queue) => queue.name.startsWith(prefix))
    return paginate(queues, (queue) => queue.name, pageSize, pageToken)
  }

  /** The queue `name` for `DeleteQueue`, or the service's NOT_FOUND. */
  queueToDelete(name: string): StoredQueue {
    const queue = this.queues.get(name)
    if (queue === undefined) throw Errors.entityNotFound()
    return queue
  }

  /** Removes a queue (its tasks are removed first), keeping its name taken for the reuse window. */
  removeQueue(queue: StoredQueue): void {
    this.queues.delete(queue.name)
    this.queueTombstones.set(queue.name, this.now() + this.options.queueReuseWindowMs)
  }

  /** Sets the queue's state (`PauseQueue`, `ResumeQueue`). */
  setState(name: string, state: QueueRunState): StoredQueue {
    const queue = this.requireQueue(name)
    queue.state = state
    return queue
  }

  /** Marks the queue purged now; returns the tasks created up to now, which the purge removes. */
  purge(name: string): { readonly queue: StoredQueue; readonly tasks: ReadonlyArray<StoredTask> } {
    const queue = this.requireQueue(name)
    const now = this.now()
    queue.purgeTime = now
    return { queue, tasks: [...queue.tasks.values()].filter((task) => task.createTime <= now) }
  }

  // ---------------------------------------------------------------------------------------
  // Tasks

  /** `CreateTask`: validates and stores the task; the caller schedules it. */
  createTask(parent: string, input: NewTask): { readonly queue: StoredQueue; readonly task: StoredTask } {
    // A stored queue's name is valid: only a name not stored is checked (benchmark B5).
    if (!this.queues.has(parent) && !isQueueName(parent)) throw Errors.invalidQueueName()
    const namedId = input.name === "" ? undefined : parseNewTaskName(parent, input.name)
    const queue = this.requireQueue(parent)
    const now = this.now()
    // The service keeps the create time in whole seconds (and so measures the task's size with it).
    const createTime = Math.floor(now / 1000) * 1000
    const request = storedRequest(input)
    const deadline = input.dispatchDeadlineMs === undefined || input.dispatchDeadlineMs === 0
      ? DEFAULT_DISPATCH_DEADLINE_MS
      : input.dispatchDeadlineMs
    const maxDeadline = request._tag === "Http" ? MAX_DISPATCH_DEADLINE_MS : MAX_APP_ENGINE_DISPATCH_DEADLINE_MS
    if (deadline < this.options.minDispatchDeadlineMs || deadline > maxDeadline) {
      throw Errors.dispatchDeadlineRange(formatDuration(MIN_DISPATCH_DEADLINE_MS), formatDuration(maxDeadline))
    }
    const scheduleTime = input.scheduleTime === undefined || input.scheduleTime === 0 ? now : input.scheduleTime
    if (scheduleTime > now + MAX_SCHEDULE_AHEAD_MS) throw Errors.scheduleTooFar(renderPacific(scheduleTime))

    // The name is built (and hashed) once: a lookup by a new string hashes it first.
    let id = namedId
    let name = id === undefined ? "" : `${parent}/tasks/${id}`
    if (id === undefined) {
      do name = `${parent}/tasks/${id = generatedTaskId()}`
      while (queue.tasks.has(name))
    } else if (queue.tasks.has(name)) {
      throw Errors.taskAlreadyExists()
    }
    if (this.isTombstoned(this.taskTombstones, name)) throw Errors.taskAlreadyExists()
    if (storedTaskSize({ name, scheduleTime, createTime, dispatchDeadlineMs: deadline, request }) > MAX_TASK_BYTES) {
      throw Errors.taskTooLarge()
    }
    this.sweepTombstones()
    const task: StoredTask = {
      name,
      named: namedId !== undefined,
      id,
      queueName: parent,
      request,
      createTime,
      dispatchDeadlineMs: deadline,
      seq: this.seq++,
      scheduleTime,
      dispatchCount: 0,
      responseCount: 0,
      executionCount: 0,
      previous: undefined,
      firstAttempt: undefined,
      lastAttempt: undefined,
      firstAttemptAt: undefined,
      running: false,
      version: 0,
      removed: false
    }
    queue.tasks.set(name, task)
    return { queue, task }
  }

  /** The live task `name` and its queue, or the service's NOT_FOUND ("existed recently" for a tombstone). */
  requireTask(name: string): { readonly queue: StoredQueue; readonly task: StoredTask } {
    const parsed = parseTaskName(name)
    if (parsed === undefined) throw Errors.invalidTaskName()
    const queue = this.requireQueue(parsed.queue)
    const task = queue.tasks.get(name)
    if (task === undefined) {
      throw this.isTombstoned(this.taskTombstones, name) ? Errors.taskExistedRecently() : Errors.entityNotFound()
    }
    return { queue, task }
  }

  /** Whether a task named `name` is live. */
  isLiveTask(name: string): boolean {
    const parsed = parseTaskName(name)
    return parsed !== undefined && this.queues.get(parsed.queue)?.tasks.has(name) === true
  }

  /** `ListTasks`. */
  listTasks(parent: string, pageSize: number, pageToken: string): Page<StoredTask> {
    const queue = this.requireQueue(parent)
    return paginate([...queue.tasks.values()], (task) => task.name, pageSize, pageToken)
  }

  /** Removes a task; with `tombstone` its name stays taken for the dedup window. */
  removeTask(queue: StoredQueue, task: StoredTask, tombstone: boolean): void {
    queue.tasks.delete(task.name)
    if (this.taskChurn.removed(queue.tasks.size)) queue.tasks = new Map(queue.tasks)
    if (tombstone && (task.named || this.options.tombstoneGenerated !== false)) {
      this.taskTombstones.set(task.name, this.now() + this.options.dedupWindowMs)
    }
  }

  // ---------------------------------------------------------------------------------------
  // Tombstones

  private isTombstoned(tombstones: Map<string, number>, name: string): boolean {
    const until = tombstones.get(name)
    if (until === undefined) return false
    if (until <= this.now()) {
      tombstones.delete(name)
      return false
    }
    return true
  }

  /** Drops expired task tombstones, once every 1024 tasks created. */
  private sweepTombstones(): void {
    if (this.seq % 1024 !== 0) return
    const now = this.now()
    for (const [name, until] of this.taskTombstones) if (until <= now) this.taskTombstones.delete(name)
  }
}
