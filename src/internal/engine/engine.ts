/**
 * The queue engine: Cloud Tasks' queues and tasks with its API operations, delivery (schedule
 * times, pause and resume, rate limits, retries with backoff, dispatch deadlines) and a log of
 * every attempt for tests to observe. It runs on an injected {@link EngineClock} and hands
 * attempts to an injected {@link Deliver}, so it needs neither gRPC nor an HTTP client: the
 * emulator puts a gRPC server and HTTP delivery around it.
 *
 * API operations throw {@link ApiError} with the status and message of the real service.
 *
 * @internal
 */
import { AttemptLog, describeAttempts, type FinishedTask } from "./attemptLog.js"
import type { EngineClock } from "./clock.js"
import type { Deliver } from "./deliver.js"
import type {
  AttemptFilter,
  DeliveryAttempt,
  NewTask,
  Page,
  SettingsPatch,
  StoredQueue,
  StoredTask,
  TaskOutcome
} from "./model.js"
import { SERVICE_RESERVED_HEADER } from "../limits.js"
import { Errors } from "./apiError.js"
import { type AttemptEnded, Scheduler } from "./scheduler.js"
import { Store } from "./store.js"

/** What the engine needs. */
export interface EngineOptions {
  /** The one clock of every time read and every timer. */
  readonly clock: EngineClock
  /** Runs an attempt. */
  readonly deliver: Deliver
  /** Signs the OIDC ID token of a task with an `oidcToken`; without it no `Authorization` is sent. */
  readonly idToken?: ((serviceAccountEmail: string, audience: string, nowMs: number) => string) | undefined
  /** The OAuth access token of a task with an `oauthToken`; without it no `Authorization` is sent. */
  readonly accessToken?: ((serviceAccountEmail: string, scope: string) => string) | undefined
  /** How long the name of a task that ran or was deleted stays taken. */
  readonly dedupWindowMs: number
  /** How long the name of a deleted queue cannot be used again. */
  readonly queueReuseWindowMs: number
  /** The smallest `dispatchDeadline` accepted. */
  readonly minDispatchDeadlineMs: number
  /** How many attempts, and how many outcomes of finished tasks, are kept. */
  readonly attemptLogLimit: number
  /** Whether a task with a generated ID keeps its name taken after it ends (default true, as Cloud Tasks). */
  readonly tombstoneGenerated?: boolean | undefined
  /** Called after every attempt. */
  readonly onAttempt?: ((attempt: DeliveryAttempt) => void) | undefined
  /** Called once an ended attempt is counted, with what follows for its task. */
  readonly onAttemptEnded?: ((ended: AttemptEnded) => void) | undefined
  /** The message of the error that pending waits fail with on {@link Engine.close}. */
  readonly closedMessage?: string | undefined
  /**
   * The base URL standing in for App Engine: an App Engine task goes to it plus its relative
   * URI. Default: `http://127.0.0.1:8080`, where App Engine's local development server listens.
   */
  readonly appEngineTarget?: string | undefined
}

/** Where App Engine tasks go unless the engine is told otherwise. */
export const DEFAULT_APP_ENGINE_TARGET = "http://127.0.0.1:8080"

/**
 * Where a task stands: `scheduled` (not yet due), `due` (due, waiting for its queue: paused,
 * rate or concurrency limit), `running` (an attempt in flight), `retrying` (failed, waiting
 * for its next attempt).
 */
export type LiveTaskState = "scheduled" | "due" | "running" | "retrying"

/** A queue and its live tasks, with the state of each. */
export interface QueueView {
  readonly queue: StoredQueue
  readonly tasks: ReadonlyArray<{ readonly task: StoredTask; readonly state: LiveTaskState }>
}

const describeFilter = (filter: AttemptFilter): string =>
  [filter.task === undefined ? "" : ` of task ${filter.task}`, filter.queue === undefined ? "" : ` in ${filter.queue}`]
    .join("")

/** The store, the scheduler and the attempt log, behind the operations of the Cloud Tasks API. */
export class Engine {
  private readonly store: Store
  private readonly scheduler: Scheduler
  private readonly log: AttemptLog
  private readonly listeners = new Set<() => void>()
  private readonly clock: EngineOptions["clock"]

  constructor(options: EngineOptions) {
    this.clock = options.clock
    this.store = new Store(options)
    this.log = new AttemptLog({
      clock: options.clock,
      limit: options.attemptLogLimit,
      onAttempt: options.onAttempt,
      closedMessage: options.closedMessage ?? "The queue engine stopped"
    })
    this.scheduler = new Scheduler(
      {
        clock: options.clock,
        deliver: options.deliver,
        idToken: options.idToken,
        accessToken: options.accessToken,
        appEngineTarget: options.appEngineTarget ?? DEFAULT_APP_ENGINE_TARGET,
        onChange: () => this.changed(),
        onAttemptEnded: options.onAttemptEnded
      },
      this.store,
      this.log
    )
  }

  /** Calls `listener` after every change of a queue or a task; returns a function that stops it. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private changed(): void {
    for (const listener of this.listeners) {
      try {
        listener()
      } catch {
        // an observer's failure must not break the engine
      }
    }
  }

  /** Runs an operation that changes state, then tells the listeners. */
  private change<A>(operation: () => A): A {
    const result = operation()
    this.changed()
    return result
  }

  // ---------------------------------------------------------------------------------------
  // Queues

  /** `CreateQueue`. */
  createQueue(parent: string, name: string, patch: SettingsPatch): StoredQueue {
    return this.change(() => this.store.createQueue(parent, name, patch))
  }

  /**
   * The queue `name`, created with `patch` if it does not exist (for queues given at start).
   * An unthrottled queue (`throttled` false) has no rate or concurrency limit: the
   * in-process queue's queues that no definition describes.
   */
  ensureQueue(name: string, patch: SettingsPatch, throttled = true): StoredQueue {
    return this.change(() => this.store.ensureQueue(name, patch, throttled))
  }

  /** `GetQueue`. */
  getQueue(name: string): StoredQueue {
    return this.store.requireQueue(name)
  }

  /** `ListQueues`. */
  listQueues(parent: string, pageSize: number, pageToken: string): Page<StoredQueue> {
    return this.store.listQueues(parent, pageSize, pageToken)
  }

  /** `UpdateQueue`: creates the queue when it does not exist, as the service does. */
  updateQueue(name: string, patch: SettingsPatch): StoredQueue {
    return this.change(() => {
      const queue = this.store.updateQueue(name, patch)
      this.scheduler.settingsChanged(queue)
      return queue
    })
  }

  /** `DeleteQueue`: its tasks end as `deleted`. */
  deleteQueue(name: string): void {
    this.change(() => {
      const queue = this.store.queueToDelete(name)
      for (const task of [...queue.tasks.values()]) this.scheduler.finish(queue, task, "deleted", false)
      this.scheduler.dropQueue(queue)
      this.store.removeQueue(queue)
    })
  }

  /** `PurgeQueue`: deletes every task created up to now. */
  purgeQueue(name: string): StoredQueue {
    return this.change(() => {
      const { queue, tasks } = this.store.purge(name)
      for (const task of tasks) this.scheduler.finish(queue, task, "purged", true)
      return queue
    })
  }

  /** `PauseQueue`. */
  pauseQueue(name: string): StoredQueue {
    return this.change(() => {
      const queue = this.store.setState(name, "PAUSED")
      this.scheduler.pause(queue)
      return queue
    })
  }

  /** `ResumeQueue`. */
  resumeQueue(name: string): StoredQueue {
    return this.change(() => {
      const queue = this.store.setState(name, "RUNNING")
      this.scheduler.resume(queue)
      return queue
    })
  }

  // ---------------------------------------------------------------------------------------
  // Tasks

  /** `CreateTask`. */
  createTask(parent: string, input: NewTask): StoredTask {
    return this.change(() => {
      const { queue, task } = this.store.createTask(parent, input)
      this.scheduler.add(queue, task)
      return task
    })
  }

  /** `GetTask`. */
  getTask(name: string): StoredTask {
    return this.store.requireTask(name).task
  }

  /** `ListTasks`. */
  listTasks(parent: string, pageSize: number, pageToken: string): Page<StoredTask> {
    return this.store.listTasks(parent, pageSize, pageToken)
  }

  /** `DeleteTask`. */
  deleteTask(name: string): void {
    this.change(() => {
      const { queue, task } = this.store.requireTask(name)
      this.scheduler.finish(queue, task, "deleted", true)
    })
  }

  /** `RunTask`: dispatches now, even when the queue is paused or out of tokens. */
  runTask(name: string): StoredTask {
    return this.change(() => {
      const { queue, task } = this.store.requireTask(name)
      this.scheduler.runNow(queue, task)
      return task
    })
  }

  /**
   * Creates a new task (with a generated ID) in the queue of the finished task `name`, with the
   * request it was created with: its URL or App Engine target, method, headers, body and token.
   */
  replayTask(name: string): StoredTask {
    const finished = this.log.finishedTask(name)
    if (finished === undefined) throw Errors.entityNotFound()
    const { request, queueName, dispatchDeadlineMs } = finished.task
    const headers = request.headers.filter(([key]) => !SERVICE_RESERVED_HEADER.test(key))
    return this.createTask(queueName, {
      name: "",
      httpRequest: request._tag === "Http"
        ? {
          url: request.url,
          httpMethod: request.httpMethod,
          headers,
          body: request.body,
          oidcToken: request.oidcToken,
          oauthToken: request.oauthToken
        }
        : undefined,
      appEngineHttpRequest: request._tag === "AppEngine"
        ? {
          relativeUri: request.relativeUri,
          routing: request.routing,
          httpMethod: request.httpMethod,
          headers,
          body: request.body
        }
        : undefined,
      scheduleTime: undefined,
      dispatchDeadlineMs
    })
  }

  /** The URL an attempt of `task` goes to (for App Engine tasks, the stand-in host plus the relative URI). */
  urlOf(task: StoredTask): string {
    return this.scheduler.urlOf(task)
  }

  // ---------------------------------------------------------------------------------------
  // Observation

  /** Every queue with its live tasks and where each stands, queues and tasks in name order. */
  inspect(): ReadonlyArray<QueueView> {
    const now = this.clock.now()
    const stateOf = (task: StoredTask): LiveTaskState =>
      task.running ? "running" : task.dispatchCount > 0 ? "retrying" : task.scheduleTime > now ? "scheduled" : "due"
    return this.store.allQueues().map((queue) => ({
      queue,
      tasks: [...queue.tasks.values()].sort((a, b) => a.seq - b.seq).map((task) => ({ task, state: stateOf(task) }))
    }))
  }

  /** The finished tasks still kept, oldest first. */
  finished(): ReadonlyArray<FinishedTask> {
    return this.log.finished()
  }

  /** The attempts of a live task so far (a finished task's are in its outcome). */
  attemptsOf(name: string): ReadonlyArray<DeliveryAttempt> {
    return this.log.liveAttemptsOf(name)
  }

  /** Recorded attempts (those that ended), oldest first. */
  attempts(filter: AttemptFilter = {}): ReadonlyArray<DeliveryAttempt> {
    return this.log.attempts(filter)
  }

  /**
   * How the task `name` ended, if it has finished and no task of that name is live again (a
   * name used again after the dedup window waits for the new task).
   */
  outcome(name: string): TaskOutcome | undefined {
    return this.store.isLiveTask(name) ? undefined : this.log.outcome(name)
  }

  /**
   * Resolves when `check` holds (checked now and after every attempt and finished task); fails
   * after `timeoutMs` on the engine's clock, or when the engine closes.
   */
  waitUntil(check: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
    return this.log.waitUntil(check, timeoutMs, describe)
  }

  /** Resolves with the attempts matching `filter` once there are at least `count` of them. */
  async waitForAttempts(count: number, filter: AttemptFilter, timeoutMs: number): Promise<ReadonlyArray<DeliveryAttempt>> {
    await this.waitUntil(
      () => this.attempts(filter).length >= count,
      timeoutMs,
      () => `waiting for ${count} delivery attempt(s)${describeFilter(filter)}, saw ${this.attempts(filter).length}`
    )
    return this.attempts(filter)
  }

  /** Resolves once the task `name` has finished (succeeded, exhausted its retries, deleted, purged). */
  async waitForTask(name: string, timeoutMs: number): Promise<TaskOutcome> {
    await this.log.waitUntil(
      () => this.outcome(name) !== undefined,
      timeoutMs,
      () => `waiting for task ${name} to finish (${describeAttempts(this.attempts({ task: name }))})`,
      name
    )
    return this.outcome(name)!
  }

  // ---------------------------------------------------------------------------------------

  /** Stops delivery: clears every timer, aborts every attempt in flight, fails every wait. */
  close(): void {
    this.scheduler.close()
    this.log.close()
  }
}
