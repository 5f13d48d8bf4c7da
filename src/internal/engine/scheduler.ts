/**
 * The scheduler of the engine: it dispatches each queue's tasks when they are due, as far as
 * the queue's state (running or paused), its rate limit (a token bucket) and its concurrency
 * limit allow; hands each attempt to the injected {@link Deliver}; enforces the dispatch
 * deadline on the engine's clock; counts attempts the way Cloud Tasks does (differently for
 * HTTP and App Engine targets); and retries with backoff or finishes the task.
 *
 * @internal
 */
import { Churn } from "../churn.js"
import { Status, statusForHttp } from "./apiError.js"
import type { AttemptLog, RawAttempt } from "./attemptLog.js"
import { mayRetry, parseRetryAfter, retryDelay } from "./backoff.js"
import type { EngineClock } from "./clock.js"
import type { AttemptContext, Deliver, Delivery, DeliveryRequest, DeliveryResult } from "./deliver.js"
import { MinHeap } from "./heap.js"
import {
  appEngineMethodSendsBody,
  methodSendsBody,
  type PreviousAttempt,
  type StoredQueue,
  type StoredTask,
  type TaskOutcome
} from "./model.js"
import { shortName } from "./names.js"
import type { Store } from "./store.js"
import { burstSizeFor, TokenBucket } from "./tokenBucket.js"

/** What the scheduler needs. */
export interface SchedulerOptions {
  readonly clock: EngineClock
  readonly deliver: Deliver
  /** Signs the OIDC ID token of a task with an `oidcToken`; without it no `Authorization` is sent. */
  readonly idToken: ((serviceAccountEmail: string, audience: string, nowMs: number) => string) | undefined
  /** The OAuth access token of a task with an `oauthToken`; without it no `Authorization` is sent. */
  readonly accessToken: ((serviceAccountEmail: string, scope: string) => string) | undefined
  /** The base URL that stands in for App Engine: an App Engine task goes to it plus its relative URI. */
  readonly appEngineTarget: string
  /** Called whenever an attempt starts or ends. */
  readonly onChange: () => void
  /** Called when an ended attempt has been counted, with what follows for its task. */
  readonly onAttemptEnded: ((ended: AttemptEnded) => void) | undefined
}

/**
 * An attempt that ended, and what follows for its task: it finished (`succeeded`,
 * `dropped`, `exhausted`), it waits for a retry at `retryAt`, or it was already gone
 * (deleted or purged while the attempt ran).
 */
export interface AttemptEnded {
  readonly task: StoredTask
  readonly queue: StoredQueue
  /** 1 for the first attempt, 2 for the first retry, … */
  readonly attempt: number
  /** When the attempt ended (the queue's clock): a retry's delay counts from here. */
  readonly endedAt: number
  readonly next: "succeeded" | "dropped" | "exhausted" | "retrying" | "gone"
}

interface DueEntry {
  readonly at: number
  readonly seq: number
  readonly version: number
  readonly task: StoredTask
}

/** The delivery machinery of one queue. */
interface Lane {
  readonly due: MinHeap<DueEntry>
  readonly bucket: TokenBucket
  /** Attempts in flight. */
  running: number
  /** Cancels the wake-up timer, if one is set. */
  cancelTimer: (() => void) | undefined
  /** When the wake-up timer fires, on the engine's clock. */
  timerAt: number
  /** A pump of this lane is in progress. */
  pumping: boolean
}

/** `TaskPreviousResponse` of an HTTP task after `previous` (its `TaskRetryReason` is empty). */
const httpPreviousResponse = (previous: PreviousAttempt): string | undefined =>
  previous._tag === "Response" ? String(previous.status) : previous._tag === "DeadlineExceeded" ? "504" : undefined

/** `TaskPreviousResponse` of an App Engine task after `previous`. */
const appEnginePreviousResponse = (previous: PreviousAttempt): string =>
  previous._tag === "Response" ? String(previous.status) : "0"

/** `TaskRetryReason` of an App Engine task after `previous`. */
const appEngineRetryReason = (previous: PreviousAttempt): string =>
  previous._tag === "Response" ? "App Error" : "Instance Unavailable"

const hosts = new Map<string, string>()

/** The `Host` of `url`, parsed once per URL (a task's URL is usually one of a few). */
const hostOf = (url: string): string => {
  let host = hosts.get(url)
  if (host === undefined) {
    if (hosts.size >= 1024) hosts.clear()
    host = new URL(url).host
    hosts.set(url, host)
  }
  return host
}

/**
 * The request headers of an attempt, as Cloud Tasks sends them: `Host`, the stored headers,
 * then the queue and task name, retry and execution counts, the ETA and, on a retry, the
 * previous response and retry reason (`X-CloudTasks-*` for HTTP tasks, `X-AppEngine-*` for
 * App Engine tasks); `Authorization` for a task with a token; `Content-Length` when the
 * method carries a body.
 */
const dispatchHeaders = (
  task: StoredTask,
  url: string,
  context: AttemptContext,
  authorization: string | undefined
): ReadonlyArray<readonly [string, string]> => {
  const http = task.request._tag === "Http"
  const prefix = http ? "X-CloudTasks-" : "X-AppEngine-"
  const injected: Array<readonly [string, string]> = [
    [`${prefix}QueueName`, context.queueId],
    [`${prefix}TaskName`, context.taskId],
    [`${prefix}TaskRetryCount`, String(context.retryCount)],
    [`${prefix}TaskExecutionCount`, String(context.executionCount)],
    [`${prefix}TaskETA`, (context.etaMs / 1000).toFixed(6)]
  ]
  if (context.previousResponse !== undefined) injected.push([`${prefix}TaskPreviousResponse`, context.previousResponse])
  if (context.retryReason !== undefined) injected.push([`${prefix}TaskRetryReason`, context.retryReason])
  if (authorization !== undefined) injected.push(["Authorization", authorization])
  const overridden = new Set(injected.map(([key]) => key.toLowerCase()))
  overridden.add("content-length")
  const { headers, httpMethod, body } = task.request
  const sendsBody = http ? methodSendsBody(httpMethod) : appEngineMethodSendsBody(httpMethod)
  return [
    ["Host", hostOf(url)],
    ...headers.filter(([key]) => !overridden.has(key.toLowerCase())),
    ...injected,
    ...(sendsBody ? [["Content-Length", String(body.length)] as const] : [])
  ]
}

/** The result of the attempt that missed its deadline. */
const DEADLINE_EXCEEDED: DeliveryResult = { _tag: "DeadlineExceeded" }

/**
 * An attempt in flight, and the request its delivery gets. One object per attempt, its
 * headers built only when read: an in-process delivery never reads them (benchmark B5).
 */
class Attempt implements DeliveryRequest {
  readonly task: string
  readonly queue: string
  readonly attempt: number
  readonly method: string
  readonly body: Buffer
  readonly deadlineMs: number
  /** The delivery, once started: aborted at the deadline or when the engine closes. */
  delivery: Delivery | undefined = undefined
  /** Cancels the deadline timer. */
  cancelDeadline: () => void = () => {}
  /** `deliver` has not returned yet: a result reported now is taken after it returns. */
  synchronous = true
  /** The first result reported while `deliver` had not returned yet. */
  private early: DeliveryResult | undefined = undefined
  /** The attempt was counted, or stopped: what the delivery reports afterwards is ignored. */
  private over = false
  private builtHeaders: ReadonlyArray<readonly [string, string]> | undefined = undefined

  constructor(
    private readonly scheduler: Scheduler,
    readonly storedQueue: StoredQueue,
    readonly lane: Lane,
    readonly stored: StoredTask,
    readonly url: string,
    readonly context: AttemptContext,
    readonly lastAttempt: boolean,
    readonly startedAt: number,
    private readonly authorization: string | undefined
  ) {
    this.task = stored.name
    this.queue = storedQueue.name
    this.attempt = stored.dispatchCount
    this.method = stored.request.httpMethod
    this.body = stored.request.body
    this.deadlineMs = stored.dispatchDeadlineMs
  }

  get headers(): ReadonlyArray<readonly [string, string]> {
    return this.builtHeaders ??= dispatchHeaders(this.stored, this.url, this.context, this.authorization)
  }

  /** The delivery's callback: counts the attempt, once. */
  readonly done = (result: DeliveryResult): void => {
    if (this.synchronous) this.early ??= result
    else this.end(result)
  }

  /**
   * `deliver` returned: a result it reported meanwhile is counted now, before the next
   * dispatch, so an attempt that answered at once (an in-process handler that needs no I/O)
   * holds nothing after it (benchmark B5). Whether it had answered.
   */
  returned(): boolean {
    this.synchronous = false
    if (this.early === undefined) return false
    this.end(this.early)
    return true
  }

  /** The deadline passed: counted first, so what the aborted delivery reports afterwards is ignored. */
  readonly deadlinePassed = (): void => {
    this.end(DEADLINE_EXCEEDED)
    this.delivery?.abort()
  }

  private end(result: DeliveryResult): void {
    if (this.over) return
    this.over = true
    this.scheduler.ended(this, result)
  }

  /** Aborts the attempt without counting it (the engine is closing). */
  stop(): void {
    this.over = true
    this.cancelDeadline()
    this.delivery?.abort()
  }
}

/** Dispatches, retries and finishes the tasks of every queue. */
export class Scheduler {
  private readonly lanes = new Map<StoredQueue, Lane>()
  private inFlight = new Set<Attempt>()
  private readonly inFlightChurn = new Churn()
  /**
   * The latest attempt, kept alive. V8 forgets an object's shape once no object has it, and
   * discards the code compiled for that shape: a full collection while no attempt was alive
   * (V8 runs one when the program idles) sent the whole attempt path back to the compiler.
   * Measured after a full collection (benchmark B5): 32.5 µs of CPU per in-process task, 24.9
   * with one attempt kept.
   */
  latest: Attempt | undefined = undefined
  private closed = false

  constructor(
    private readonly options: SchedulerOptions,
    private readonly store: Store,
    private readonly log: AttemptLog
  ) {}

  private now(): number {
    return this.options.clock.now()
  }

  private lane(queue: StoredQueue): Lane {
    let lane = this.lanes.get(queue)
    if (lane === undefined) {
      const rate = queue.settings.rateLimits.maxDispatchesPerSecond
      lane = {
        due: new MinHeap<DueEntry>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq)),
        bucket: new TokenBucket(rate, burstSizeFor(rate), this.options.clock.now),
        running: 0,
        cancelTimer: undefined,
        timerAt: 0,
        pumping: false
      }
      this.lanes.set(queue, lane)
    }
    return lane
  }

  // ---------------------------------------------------------------------------------------
  // Queues and tasks

  /** Schedules a new task at its `scheduleTime`. */
  add(queue: StoredQueue, task: StoredTask): void {
    const lane = this.lane(queue)
    this.enqueue(lane, task)
    // Dispatch after the caller returns, so CreateTask answers with the task as created.
    if (queue.state === "RUNNING") this.wakeIn(queue, lane, 0)
  }

  /** Follows a change of the queue's settings (rate limit, concurrency). */
  settingsChanged(queue: StoredQueue): void {
    const lane = this.lanes.get(queue)
    if (lane === undefined) return
    const rate = queue.settings.rateLimits.maxDispatchesPerSecond
    lane.bucket.reconfigure(rate, burstSizeFor(rate))
    this.pump(queue)
  }

  /** Stops dispatching from a paused queue. */
  pause(queue: StoredQueue): void {
    const lane = this.lanes.get(queue)
    if (lane !== undefined) this.clearTimer(lane)
  }

  /** Dispatches what is due, after a resume. */
  resume(queue: StoredQueue): void {
    this.pump(queue)
  }

  /** Forgets a deleted queue (its tasks were finished first). */
  dropQueue(queue: StoredQueue): void {
    const lane = this.lanes.get(queue)
    if (lane === undefined) return
    this.clearTimer(lane)
    lane.due.clear()
    this.lanes.delete(queue)
  }

  /** `RunTask`: dispatches now, even when the queue is paused or out of tokens. */
  runNow(queue: StoredQueue, task: StoredTask): void {
    if (task.running) return
    task.version++
    this.dispatch(queue, this.lane(queue), task)
  }

  /** Removes a task for good and records how it ended; with `tombstone` its name stays taken. */
  finish(queue: StoredQueue, task: StoredTask, result: TaskOutcome["result"], tombstone: boolean): void {
    task.removed = true
    task.version++
    this.store.removeTask(queue, task, tombstone)
    this.log.finish(task, result, this.now())
  }

  /** The URL an attempt of `task` goes to. */
  urlOf(task: StoredTask): string {
    const request = task.request
    return request._tag === "Http" ? request.url : `${this.options.appEngineTarget.replace(/\/$/, "")}${request.relativeUri}`
  }

  // ---------------------------------------------------------------------------------------
  // Dispatch

  private enqueue(lane: Lane, task: StoredTask): void {
    lane.due.push({ at: task.scheduleTime, seq: task.seq, version: task.version, task })
  }

  /**
   * Dispatches every task that is due, as far as pause, tokens and concurrency allow. An
   * attempt that ends during a dispatch asks for a pump again: the pump in progress goes on.
   */
  private pump(queue: StoredQueue): void {
    const lane = this.lanes.get(queue)
    if (lane === undefined || lane.pumping) return
    lane.pumping = true
    try {
      this.pumpLane(queue, lane)
    } finally {
      lane.pumping = false
    }
  }

  private pumpLane(queue: StoredQueue, lane: Lane): void {
    if (this.closed || queue.state !== "RUNNING" || !this.store.isCurrent(queue)) return this.clearTimer(lane)
    const now = this.now()
    for (;;) {
      const entry = lane.due.peek()
      if (entry === undefined) return this.clearTimer(lane)
      if (entry.version !== entry.task.version || entry.task.removed || entry.task.running) {
        lane.due.pop()
        continue
      }
      if (entry.at > now) return this.wakeIn(queue, lane, entry.at - now)
      if (lane.running >= queue.settings.rateLimits.maxConcurrentDispatches) return this.clearTimer(lane)
      if (!lane.bucket.tryTake()) return this.wakeIn(queue, lane, lane.bucket.msUntilToken())
      lane.due.pop()
      this.dispatch(queue, lane, entry.task)
    }
  }

  /** Pumps the queue `ms` from now, unless a timer already set fires by then. */
  private wakeIn(queue: StoredQueue, lane: Lane, ms: number): void {
    if (!Number.isFinite(ms)) return this.clearTimer(lane)
    const now = this.now()
    const at = now + ms
    // A timer set for an earlier time is kept, unless that time has passed without the timer
    // firing (a clock that jumped ahead of its timers): then it is set again.
    if (lane.cancelTimer !== undefined && lane.timerAt <= at + 0.5 && lane.timerAt >= now) return
    this.clearTimer(lane)
    lane.timerAt = at
    lane.cancelTimer = this.options.clock.setTimer(Math.max(0, Math.ceil(ms)), () => {
      lane.cancelTimer = undefined
      this.pump(queue)
    })
  }

  private clearTimer(lane: Lane): void {
    if (lane.cancelTimer !== undefined) {
      lane.cancelTimer()
      lane.cancelTimer = undefined
    }
  }

  private dispatch(queue: StoredQueue, lane: Lane, task: StoredTask): void {
    const now = this.now()
    const retryCount = task.dispatchCount
    task.running = true
    lane.running++
    task.dispatchCount++
    if (task.firstAttempt === undefined) {
      task.firstAttempt = { scheduleTime: undefined, dispatchTime: now, responseTime: undefined, responseStatus: undefined }
      task.firstAttemptAt = now
    }
    task.lastAttempt = { scheduleTime: task.scheduleTime, dispatchTime: now, responseTime: undefined, responseStatus: undefined }
    const previous = task.previous
    const http = task.request._tag === "Http"
    const context: AttemptContext = {
      queueId: shortName(queue.name),
      taskId: task.id,
      retryCount,
      executionCount: task.executionCount,
      etaMs: task.scheduleTime,
      previousResponse: previous === undefined ? undefined : http ? httpPreviousResponse(previous) : appEnginePreviousResponse(previous),
      retryReason: previous === undefined ? undefined : http ? "" : appEngineRetryReason(previous)
    }
    const attempt = new Attempt(
      this,
      queue,
      lane,
      task,
      this.urlOf(task),
      context,
      !mayRetry(queue.settings.retryConfig, task.dispatchCount, task.firstAttemptAt ?? now, now),
      now,
      this.authorization(task, now)
    )
    this.inFlight.add(attempt)
    this.latest = attempt
    try {
      attempt.delivery = this.options.deliver(attempt, attempt.done)
    } catch (error) {
      attempt.done({ _tag: "Failed", message: error instanceof Error ? error.message : String(error) })
    }
    // The deadline counts from the dispatch; an attempt that answered at once needs none.
    if (!attempt.returned()) {
      attempt.cancelDeadline = this.options.clock.setTimer(
        task.dispatchDeadlineMs - (this.now() - now),
        attempt.deadlinePassed
      )
    }
    this.options.onChange()
  }

  /** Counts an attempt that ended (once: with the delivery's result, or at its deadline). */
  ended(attempt: Attempt, result: DeliveryResult): void {
    this.inFlight.delete(attempt)
    if (this.inFlightChurn.removed(this.inFlight.size)) this.inFlight = new Set(this.inFlight)
    attempt.cancelDeadline()
    this.complete(attempt.storedQueue, attempt.lane, attempt.stored, result, attempt, attempt.startedAt)
  }

  private authorization(task: StoredTask, now: number): string | undefined {
    if (task.request._tag !== "Http") return undefined
    const { oidcToken, oauthToken, url } = task.request
    if (oidcToken !== undefined && this.options.idToken !== undefined) {
      const audience = oidcToken.audience === "" ? url : oidcToken.audience
      return `Bearer ${this.options.idToken(oidcToken.serviceAccountEmail, audience, now)}`
    }
    if (oauthToken !== undefined && this.options.accessToken !== undefined) {
      return `Bearer ${this.options.accessToken(oauthToken.serviceAccountEmail, oauthToken.scope)}`
    }
    return undefined
  }

  /** Records an ended attempt, counts it on the task, and retries or finishes the task. */
  private complete(
    queue: StoredQueue,
    lane: Lane,
    task: StoredTask,
    result: DeliveryResult,
    request: DeliveryRequest,
    startedAt: number
  ): void {
    lane.running--
    task.running = false
    if (this.closed) return
    const now = this.now()
    const status = result._tag === "Response" ? result.status : undefined
    const succeeded = status !== undefined && status >= 200 && status < 300
    const attempt: RawAttempt = {
      request,
      status,
      error: result._tag === "DeadlineExceeded"
        ? `DEADLINE_EXCEEDED: no response within the dispatch deadline of ${task.dispatchDeadlineMs} ms`
        : result._tag === "Failed"
        ? `UNAVAILABLE: ${result.message}`
        : result._tag === "Aborted"
        ? "UNAVAILABLE: the delivery was aborted"
        : undefined,
      succeeded,
      startedAt,
      endedAt: now
    }
    this.log.record(attempt, !task.removed)
    const ended = (next: AttemptEnded["next"]) =>
      this.options.onAttemptEnded?.({ task, queue, attempt: request.attempt, endedAt: now, next })

    if (task.removed || !this.store.isCurrent(queue)) {
      this.pump(queue)
      this.options.onChange()
      ended("gone")
      return
    }
    const responseStatus = status !== undefined
      ? statusForHttp(status)
      : result._tag === "DeadlineExceeded"
      ? { code: Status.DEADLINE_EXCEEDED, message: "DEADLINE_EXCEEDED(4): The request deadline was exceeded" }
      : { code: Status.UNAVAILABLE, message: `UNAVAILABLE(14): ${result._tag === "Failed" ? result.message : ""}` }
    task.lastAttempt = { ...task.lastAttempt!, responseTime: now, responseStatus }
    if (status !== undefined) task.responseCount++
    const previous: PreviousAttempt = status !== undefined
      ? { _tag: "Response", status }
      : result._tag === "DeadlineExceeded"
      ? { _tag: "DeadlineExceeded" }
      : { _tag: "Failed" }
    if (task.request._tag === "AppEngine" || (status !== undefined && status < 500)) task.executionCount++
    task.previous = previous

    let next: AttemptEnded["next"]
    if (result._tag === "Response" && result.dropped === true) {
      next = "dropped"
      this.finish(queue, task, next, true)
    } else if (succeeded) {
      next = "succeeded"
      this.finish(queue, task, next, true)
    } else if (!mayRetry(queue.settings.retryConfig, task.dispatchCount, task.firstAttemptAt ?? now, now)) {
      next = "exhausted"
      this.finish(queue, task, next, true)
    } else {
      next = "retrying"
      const retryAfter = result._tag === "Response" ? parseRetryAfter(result.retryAfter, now) : undefined
      task.scheduleTime = now + retryDelay(queue.settings.retryConfig, task.dispatchCount, status, retryAfter)
      task.version++
      this.enqueue(lane, task)
    }
    this.pump(queue)
    this.options.onChange()
    ended(next)
  }

  /** Stops delivery: clears every timer and aborts every attempt in flight (their results are ignored). */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const lane of this.lanes.values()) this.clearTimer(lane)
    for (const inFlight of this.inFlight) inFlight.stop()
    this.inFlight.clear()
  }
}
