/**
 * What the engine keeps for observation: every delivery attempt and how each finished task
 * ended (both bounded by `attemptLogLimit`, oldest dropped first), and waits for a condition on
 * them, timed out on the engine's clock.
 *
 * @internal
 */
import type { EngineClock } from "./clock.js"
import type { DeliveryRequest } from "./deliver.js"
import type { AttemptFilter, DeliveryAttempt, StoredTask, TaskOutcome } from "./model.js"

/** A finished task: how it ended, and the task as it was stored (to replay it). */
export interface FinishedTask {
  readonly outcome: TaskOutcome
  readonly task: StoredTask
}

/**
 * An attempt as the scheduler hands it over: the headers as sent, times in milliseconds.
 * The log keeps attempts in this form and builds a {@link DeliveryAttempt} (a headers
 * record, dates) only when one is read: most are never read, and every attempt of an
 * in-process task or of the emulator would otherwise pay for it (benchmarks B5, B8).
 */
export interface RawAttempt {
  readonly request: DeliveryRequest
  readonly status: number | undefined
  readonly error: string | undefined
  readonly succeeded: boolean
  readonly startedAt: number
  readonly endedAt: number
}

/** The public shape of a recorded attempt. */
const materialize = ({ request, ...raw }: RawAttempt): DeliveryAttempt => {
  const headers: Record<string, string> = {}
  for (const [key, value] of request.headers) headers[key] = value
  return {
    task: request.task,
    queue: request.queue,
    attempt: request.attempt,
    url: request.url,
    method: request.method,
    headers,
    body: request.body,
    ...raw,
    startedAt: new Date(raw.startedAt),
    endedAt: new Date(raw.endedAt)
  }
}

interface Finished {
  readonly task: StoredTask
  readonly result: TaskOutcome["result"]
  readonly attempts: ReadonlyArray<RawAttempt>
  readonly at: number
  /** Its place in the order tasks finished in. */
  readonly seq: number
}

const finishedTask = (finished: Finished): FinishedTask => ({
  outcome: {
    task: finished.task.name,
    queue: finished.task.queueName,
    result: finished.result,
    attempts: finished.attempts.map(materialize),
    at: new Date(finished.at)
  },
  task: finished.task
})

/** What the attempt log needs. */
export interface AttemptLogOptions {
  readonly clock: EngineClock
  /** How many attempts, and how many outcomes, are kept. */
  readonly limit: number
  /** Called after every attempt; what it throws is ignored. */
  readonly onAttempt: ((attempt: DeliveryAttempt) => void) | undefined
  /** The message of the error that pending waits fail with when the log closes. */
  readonly closedMessage: string
}

interface Waiter {
  readonly check: () => boolean
  readonly resolve: () => void
  readonly reject: (error: Error) => void
  readonly cancelTimeout: () => void
}

/** How an attempt ended, in words: `answered 503` or `failed: UNAVAILABLE: connect ECONNREFUSED …`. */
const ended = (attempt: DeliveryAttempt): string =>
  attempt.status !== undefined ? `answered ${attempt.status}` : `failed: ${attempt.error ?? "no answer"}`

/**
 * What a task's attempts got, for the message of a wait that timed out, so that it shows why the
 * task has not finished: `no attempt yet`, `3 attempts, every one failed: UNAVAILABLE: connect
 * ECONNREFUSED 127.0.0.1:9`, `2 attempts, the last answered 503`.
 */
export const describeAttempts = (attempts: ReadonlyArray<DeliveryAttempt>): string => {
  const last = attempts[attempts.length - 1]
  if (last === undefined) return "no attempt yet"
  const count = `${attempts.length} attempt${attempts.length === 1 ? "" : "s"}`
  const outcome = ended(last)
  if (attempts.length === 1) return `${count}, which ${outcome}`
  return attempts.every((attempt) => ended(attempt) === outcome) ? `${count}, every one ${outcome}` : `${count}, the last ${outcome}`
}

/** Recorded attempts and outcomes, and the waits on them. */
export class AttemptLog {
  /** The recorded attempts, oldest first; trimmed to the limit in batches. */
  private log: Array<RawAttempt> = []
  private readonly outcomes = new Map<string, Finished>()
  /**
   * The outcomes in the order they were recorded, oldest from `oldest` on: the next to drop.
   * (Taking the oldest key of `outcomes` instead walks past every key deleted before it.)
   * An entry whose task finished again later no longer matches its outcome's `seq`.
   */
  private finishOrder: Array<readonly [name: string, seq: number]> = []
  private oldest = 0
  private finishSeq = 0
  /** The attempts of tasks that have not finished, by task name. */
  private readonly liveAttempts = new Map<string, Array<RawAttempt>>()
  private readonly waiters = new Set<Waiter>()
  /**
   * The waits for one task's end, by task name: checked when that task ends only. A test that
   * waits for each of 10,000 tasks would otherwise check 10,000 conditions after every attempt.
   */
  private readonly taskWaiters = new Map<string, Set<Waiter>>()
  private closed = false

  constructor(private readonly options: AttemptLogOptions) {}

  /** Records an attempt; `live` says its task has not finished, so the attempt joins its outcome. */
  record(attempt: RawAttempt, live: boolean): void {
    const limit = this.options.limit
    if (limit > 0) {
      this.log.push(attempt)
      if (this.log.length >= 2 * limit) this.log = this.log.slice(-limit)
      if (live) {
        const attempts = this.liveAttempts.get(attempt.request.task)
        if (attempts === undefined) this.liveAttempts.set(attempt.request.task, [attempt])
        else attempts.push(attempt)
      }
    }
    if (this.options.onAttempt !== undefined) {
      try {
        this.options.onAttempt(materialize(attempt))
      } catch {
        // an observer's failure must not break delivery
      }
    }
    this.notify()
  }

  /** Records how a task ended, with the attempts recorded while it was live. */
  finish(task: StoredTask, result: TaskOutcome["result"], at: number): void {
    const name = task.name
    const attempts = this.liveAttempts.get(name) ?? []
    this.liveAttempts.delete(name)
    // Deleted first, so that a name used again moves to the end of the insertion order.
    this.outcomes.delete(name)
    if (this.options.limit > 0) {
      const seq = this.finishSeq++
      this.outcomes.set(name, { task, result, attempts, at, seq })
      this.finishOrder.push([name, seq])
    }
    while (this.outcomes.size > this.options.limit && this.oldest < this.finishOrder.length) {
      const [oldest, seq] = this.finishOrder[this.oldest++]!
      if (this.outcomes.get(oldest)?.seq === seq) this.outcomes.delete(oldest)
    }
    if (this.oldest > 1024 && this.oldest * 2 > this.finishOrder.length) {
      this.finishOrder = this.finishOrder.slice(this.oldest)
      this.oldest = 0
    }
    this.notify(name)
  }

  /** Recorded attempts, oldest first. */
  attempts(filter: AttemptFilter = {}): ReadonlyArray<DeliveryAttempt> {
    return this.log.slice(-this.options.limit).filter(({ request }) =>
      (filter.task === undefined || request.task === filter.task) &&
      (filter.queue === undefined || request.queue === filter.queue)
    ).map(materialize)
  }

  /** How the task `name` last ended, if it is still in the log. */
  outcome(name: string): TaskOutcome | undefined {
    return this.finishedTask(name)?.outcome
  }

  /** The finished tasks still in the log, oldest first. */
  finished(): Array<FinishedTask> {
    return Array.from(this.outcomes.values(), finishedTask)
  }

  /** The finished task `name`, if it is still in the log. */
  finishedTask(name: string): FinishedTask | undefined {
    const finished = this.outcomes.get(name)
    return finished === undefined ? undefined : finishedTask(finished)
  }

  /** The attempts of the live task `name` so far. */
  liveAttemptsOf(name: string): ReadonlyArray<DeliveryAttempt> {
    return (this.liveAttempts.get(name) ?? []).map(materialize)
  }

  /**
   * Resolves when `check` holds (checked now and after every attempt and outcome; with `task`,
   * only when that task ends), fails after `timeoutMs` on the engine's clock, or when the log
   * closes. `describe` says what is awaited, for the error.
   */
  waitUntil(check: () => boolean, timeoutMs: number, describe: () => string, task?: string): Promise<void> {
    if (check()) return Promise.resolve()
    if (this.closed) return Promise.reject(new Error(`${this.options.closedMessage}; ${describe()}`))
    let waiters = this.waiters
    if (task !== undefined) {
      waiters = this.taskWaiters.get(task) ?? new Set()
      this.taskWaiters.set(task, waiters)
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        check,
        resolve,
        reject,
        cancelTimeout: this.options.clock.setTimer(timeoutMs, () => {
          this.forget(waiters, waiter, task)
          reject(new Error(`Timed out after ${timeoutMs} ms: ${describe()}`))
        })
      }
      waiters.add(waiter)
    })
  }

  private forget(waiters: Set<Waiter>, waiter: Waiter, task: string | undefined): void {
    waiters.delete(waiter)
    if (task !== undefined && waiters.size === 0 && this.taskWaiters.get(task) === waiters) this.taskWaiters.delete(task)
  }

  /** Resolves the waits whose condition now holds: the general ones, and those of `task` if it ended. */
  notify(task?: string): void {
    this.resolveHolding(this.waiters, undefined)
    const waiters = task === undefined ? undefined : this.taskWaiters.get(task)
    if (waiters !== undefined) this.resolveHolding(waiters, task)
  }

  private resolveHolding(waiters: Set<Waiter>, task: string | undefined): void {
    if (waiters.size === 0) return
    for (const waiter of [...waiters]) {
      if (waiter.check()) {
        this.forget(waiters, waiter, task)
        waiter.cancelTimeout()
        waiter.resolve()
      }
    }
  }

  /** Fails every pending wait, and the waits started later. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const waiter of [...this.waiters, ...Array.from(this.taskWaiters.values(), (set) => [...set]).flat()]) {
      waiter.cancelTimeout()
      waiter.reject(new Error(this.options.closedMessage))
    }
    this.waiters.clear()
    this.taskWaiters.clear()
  }
}
