/**
 * The queue engine used directly, without gRPC or HTTP: a manual clock that the test advances
 * and a delivery that answers from a script. Every time is exact: the backoff law, maxAttempts
 * and maxRetryDuration, Retry-After, the harder backoff after 429 and 503, the token bucket,
 * maxConcurrentDispatches, the dispatch deadline, pause and resume, and the clock itself.
 */
import { describe, expect, it, vi } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { ApiError, Status } from "../../src/internal/engine/apiError.js"
import { type EngineClock, systemClock } from "../../src/internal/engine/clock.js"
import type { Deliver, DeliveryRequest, DeliveryResult } from "../../src/internal/engine/deliver.js"
import { Engine, type EngineOptions } from "../../src/internal/engine/engine.js"
import type { NewTask, SettingsPatch } from "../../src/internal/engine/model.js"

// -------------------------------------------------------------------------------------------
// A manual clock

/** A clock whose time moves only when the test advances it; timers fire in time order. */
class ManualClock implements EngineClock {
  private time: number
  private seq = 0
  private timers: Array<{ readonly at: number; readonly seq: number; readonly f: () => void }> = []

  constructor(start: number) {
    this.time = start
  }

  readonly now = (): number => this.time

  readonly setTimer = (ms: number, f: () => void): (() => void) => {
    const timer = { at: this.time + Math.max(0, ms), seq: this.seq++, f }
    this.timers.push(timer)
    return () => {
      this.timers = this.timers.filter((t) => t !== timer)
    }
  }

  /** Moves time `ms` ahead, firing each timer due by then at its own time (and what the engine does in between). */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms
    for (;;) {
      await settle()
      const next = this.timers
        .filter((timer) => timer.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0]
      if (next === undefined) break
      this.timers = this.timers.filter((timer) => timer !== next)
      this.time = Math.max(this.time, next.at)
      next.f()
    }
    this.time = target
    await settle()
  }

  /** Moves time to `at` (ms since the epoch). */
  advanceTo(at: number): Promise<void> {
    return this.advance(at - this.time)
  }
}

/** Lets the engine react to settled deliveries (promise callbacks), without any timer. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

// -------------------------------------------------------------------------------------------
// A scripted delivery

/**
 * What the script answers: a status at once, or after `afterMs` on the clock (with a
 * `Retry-After`); `hang`: no answer until aborted; `ignoresAbort`: answers `status` after
 * `afterMs` even if aborted before.
 */
type Reply =
  | number
  | { readonly status: number; readonly retryAfter?: string; readonly afterMs?: number; readonly ignoresAbort?: boolean }
  | { readonly fail: string }
  | { readonly reject: string }
  | "hang"

interface Sent {
  readonly request: DeliveryRequest
  /** When the attempt started, on the manual clock. */
  readonly at: number
  /** When the engine aborted it, if it did. */
  abortedAt: number | undefined
}

const scriptedTarget = (clock: ManualClock, script: (request: DeliveryRequest, index: number) => Reply) => {
  const sent: Array<Sent> = []
  let inFlight = 0
  let maxInFlight = 0
  const deliver: Deliver = (request, report) => {
    const record: Sent = { request, at: clock.now(), abortedAt: undefined }
    const reply = script(request, sent.length)
    sent.push(record)
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    let done = false
    const answer = (value: DeliveryResult) => {
      if (done) return
      done = true
      inFlight--
      report(value)
    }
    let cancel = () => {}
    let ignoresAbort = false
    if (reply === "hang") {
      // answers only when aborted
    } else if (typeof reply === "number") {
      answer({ _tag: "Response", status: reply, retryAfter: undefined })
    } else if ("fail" in reply) {
      answer({ _tag: "Failed", message: reply.fail })
    } else if ("reject" in reply) {
      done = true
      inFlight--
      throw new Error(reply.reject)
    } else {
      const response: DeliveryResult = { _tag: "Response", status: reply.status, retryAfter: reply.retryAfter }
      ignoresAbort = reply.ignoresAbort === true
      if (reply.afterMs === undefined) answer(response)
      else cancel = clock.setTimer(reply.afterMs, () => answer(response))
    }
    return {
      abort: () => {
        record.abortedAt = clock.now()
        if (ignoresAbort) return
        cancel()
        answer({ _tag: "Aborted" })
      }
    }
  }
  return {
    deliver,
    sent,
    /** Start times of the attempts, in seconds after `from`. */
    secondsAfter: (from: number) => sent.map((s) => (s.at - from) / 1000),
    maxInFlight: () => maxInFlight
  }
}

/** A script answering `replies` in turn, the last one from then on. */
const inTurn = (...replies: ReadonlyArray<Reply>) => (_: DeliveryRequest, index: number): Reply =>
  replies[Math.min(index, replies.length - 1)] ?? 200

// -------------------------------------------------------------------------------------------
// The engine under test

/** A start time far from the real one: a system clock read anywhere would show. */
const T0 = Date.UTC(2001, 8, 9, 1, 46, 40)
const LOCATION = "projects/p/locations/l"
const QUEUE = `${LOCATION}/queues/q`
const SECOND = 1000

const setup = (
  script: (request: DeliveryRequest, index: number) => Reply,
  settings: SettingsPatch = {},
  options: Partial<EngineOptions> = {}
) => {
  const clock = new ManualClock(T0)
  const target = scriptedTarget(clock, script)
  const engine = new Engine({
    clock,
    deliver: target.deliver,
    dedupWindowMs: 60 * SECOND,
    queueReuseWindowMs: 60 * SECOND,
    minDispatchDeadlineMs: 15 * SECOND,
    attemptLogLimit: 1000,
    closedMessage: "engine closed",
    ...options
  })
  engine.createQueue(LOCATION, QUEUE, settings)
  return { clock, target, engine }
}

const task = (fields: Partial<NewTask> = {}): NewTask => ({
  name: "",
  httpRequest: {
    url: "http://target.test/work",
    httpMethod: "POST",
    headers: [],
    body: Buffer.from("{}"),
    oidcToken: undefined,
    oauthToken: undefined
  },
  scheduleTime: undefined,
  dispatchDeadlineMs: undefined,
  ...fields
})

const named = (id: string): Partial<NewTask> => ({ name: `${QUEUE}/tasks/${id}` })

const header = (sent: Sent | undefined, name: string): string | undefined =>
  sent?.request.headers.find(([key]) => key === name)?.[1]

/** Backoff of 10 s to 300 s with 3 doublings: retries after 10, 20, 40, 80, 160, 240, 300, 300 s. */
const BACKOFF: SettingsPatch = { minBackoffMs: 10 * SECOND, maxBackoffMs: 300 * SECOND, maxDoublings: 3 }

/** Cumulative start times of `gaps`, from 0. */
const startsOf = (gaps: ReadonlyArray<number>) => gaps.reduce<Array<number>>((starts, gap) => [...starts, starts.at(-1)! + gap], [0])

// -------------------------------------------------------------------------------------------

describe("backoff", () => {
  it("retries after exactly 10, 20, 40, 80, 160, 240, 300, 300 s: never sooner, never later", async () => {
    const { clock, target, engine } = setup(inTurn(500), { ...BACKOFF, maxAttempts: 9 })
    const created = engine.createTask(QUEUE, task())
    const expected = startsOf([10, 20, 40, 80, 160, 240, 300, 300])
    for (const [i, seconds] of expected.entries()) {
      await clock.advanceTo(T0 + seconds * SECOND - 1)
      expect(target.sent, `attempt ${i + 1} not before ${seconds} s`).toHaveLength(i)
      await clock.advance(1)
      expect(target.sent, `attempt ${i + 1} at ${seconds} s`).toHaveLength(i + 1)
    }
    expect(target.secondsAfter(T0)).toEqual([0, 10, 30, 70, 150, 310, 550, 850, 1150])
    const outcome = engine.outcome(created.name)
    expect(outcome?.result).toBe("exhausted")
    expect(outcome?.attempts.map((attempt) => attempt.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  it("stops after maxAttempts, and the task is gone", async () => {
    const { clock, target, engine } = setup(inTurn(500), { ...BACKOFF, maxAttempts: 3 })
    const created = engine.createTask(QUEUE, task())
    await clock.advance(31 * SECOND)
    expect(target.secondsAfter(T0)).toEqual([0, 10, 30])
    expect(engine.outcome(created.name)).toMatchObject({ result: "exhausted", at: new Date(T0 + 30 * SECOND) })
    expect(() => engine.getTask(created.name)).toThrow(
      "The task no longer exists, though a task with this name existed recently."
    )
    await clock.advance(3600 * SECOND)
    expect(target.sent).toHaveLength(3)
  })

  it("with unlimited attempts, stops at the first attempt that ends maxRetryDuration after the first", async () => {
    const { clock, target, engine } = setup(inTurn(500), {
      maxAttempts: -1,
      maxRetryDurationMs: 35 * SECOND,
      minBackoffMs: 10 * SECOND,
      maxBackoffMs: 10 * SECOND
    })
    const created = engine.createTask(QUEUE, task())
    await clock.advance(3600 * SECOND)
    // 30 s after the first attempt is within the 35 s; 40 s is not: no retry after it.
    expect(target.secondsAfter(T0)).toEqual([0, 10, 20, 30, 40])
    expect(engine.outcome(created.name)?.result).toBe("exhausted")
  })

  it("with maxAttempts and maxRetryDuration both set, stops only when both are reached", async () => {
    const flat = { minBackoffMs: 10 * SECOND, maxBackoffMs: 10 * SECOND }
    // Attempts reached after the 2nd attempt (10 s), duration only at 40 s.
    const byDuration = setup(inTurn(500), { ...flat, maxAttempts: 2, maxRetryDurationMs: 35 * SECOND })
    byDuration.engine.createTask(QUEUE, task())
    await byDuration.clock.advance(3600 * SECOND)
    expect(byDuration.target.secondsAfter(T0)).toEqual([0, 10, 20, 30, 40])

    // Duration reached at 20 s, attempts only at the 6th.
    const byAttempts = setup(inTurn(500), { ...flat, maxAttempts: 6, maxRetryDurationMs: 15 * SECOND })
    byAttempts.engine.createTask(QUEUE, task())
    await byAttempts.clock.advance(3600 * SECOND)
    expect(byAttempts.target.secondsAfter(T0)).toEqual([0, 10, 20, 30, 40, 50])
  })

  it("backs off twice as long after 429 and 503 (still capped at maxBackoff), normally after other failures", async () => {
    const gapAfter = async (status: number, settings: SettingsPatch) => {
      const { clock, target, engine } = setup(inTurn(status, 200), settings)
      engine.createTask(QUEUE, task())
      await clock.advance(3600 * SECOND)
      return target.secondsAfter(T0)[1]
    }
    expect(await gapAfter(500, BACKOFF)).toBe(10)
    expect(await gapAfter(404, BACKOFF)).toBe(10)
    expect(await gapAfter(429, BACKOFF)).toBe(20)
    expect(await gapAfter(503, BACKOFF)).toBe(20)
    expect(await gapAfter(503, { minBackoffMs: 10 * SECOND, maxBackoffMs: 15 * SECOND })).toBe(15)
  })

  it("honours Retry-After in seconds, even beyond maxBackoff", async () => {
    const { clock, target, engine } = setup(inTurn({ status: 503, retryAfter: "120" }, 200), BACKOFF)
    engine.createTask(QUEUE, task())
    await clock.advance(3600 * SECOND)
    expect(target.secondsAfter(T0)).toEqual([0, 120])
  })

  it("honours Retry-After as an HTTP date, read against the engine's clock", async () => {
    const at = new Date(T0 + 90 * SECOND).toUTCString()
    const { clock, target, engine } = setup(inTurn({ status: 429, retryAfter: at }, 200), BACKOFF)
    engine.createTask(QUEUE, task())
    await clock.advance(3600 * SECOND)
    expect(target.secondsAfter(T0)).toEqual([0, 90])
  })

  it("a Retry-After shorter than the backoff does not shorten it", async () => {
    const { clock, target, engine } = setup(inTurn({ status: 503, retryAfter: "1" }, 200), BACKOFF)
    engine.createTask(QUEUE, task())
    await clock.advance(3600 * SECOND)
    expect(target.secondsAfter(T0)).toEqual([0, 20])
  })
})

describe("counting", () => {
  it("counts as the recorded sequence 503, 404, 429, 500, 302, 200: every earlier attempt a retry, all but 5xx executions", async () => {
    const { clock, target, engine } = setup(inTurn(503, 404, 429, 500, 302, 200), BACKOFF)
    const created = engine.createTask(QUEUE, task(named("sequence")))
    await clock.advance(3600 * SECOND)
    const rows = target.sent.map((sent) => [
      header(sent, "X-CloudTasks-TaskRetryCount"),
      header(sent, "X-CloudTasks-TaskExecutionCount"),
      header(sent, "X-CloudTasks-TaskPreviousResponse"),
      header(sent, "X-CloudTasks-TaskRetryReason")
    ])
    expect(rows).toEqual([
      ["0", "0", undefined, undefined],
      ["1", "0", "503", ""],
      ["2", "1", "404", ""],
      ["3", "2", "429", ""],
      ["4", "2", "500", ""],
      ["5", "3", "302", ""]
    ])
    expect(engine.outcome(created.name)?.result).toBe("succeeded")
  })

  it("sends Host, the stored headers, the X-CloudTasks-* headers and Content-Length, in order", async () => {
    const { clock, target, engine } = setup(inTurn(200))
    engine.createTask(
      QUEUE,
      task({
        ...named("headers"),
        httpRequest: {
          url: "http://target.test:8080/work?x=1",
          httpMethod: "PUT",
          headers: [["content-type", "application/json"], ["X-Mixed-Case", "kept"]],
          body: Buffer.from("hello"),
          oidcToken: undefined,
          oauthToken: undefined
        }
      })
    )
    await clock.advance(0)
    const [sent] = target.sent
    expect(sent?.request).toMatchObject({
      task: `${QUEUE}/tasks/headers`,
      queue: QUEUE,
      attempt: 1,
      url: "http://target.test:8080/work?x=1",
      method: "PUT",
      deadlineMs: 600 * SECOND
    })
    expect(sent?.request.headers).toEqual([
      ["Host", "target.test:8080"],
      ["content-type", "application/json"],
      ["X-Mixed-Case", "kept"],
      ["User-Agent", "Google-Cloud-Tasks"],
      ["X-CloudTasks-QueueName", "q"],
      ["X-CloudTasks-TaskName", "headers"],
      ["X-CloudTasks-TaskRetryCount", "0"],
      ["X-CloudTasks-TaskExecutionCount", "0"],
      ["X-CloudTasks-TaskETA", (T0 / 1000).toFixed(6)],
      ["Content-Length", "5"]
    ])
  })

  it("reports the attempts on the task while it retries", async () => {
    const { clock, engine } = setup(inTurn(500, 200), BACKOFF)
    const created = engine.createTask(QUEUE, task())
    await clock.advance(0)
    const pending = engine.getTask(created.name)
    expect(pending).toMatchObject({ dispatchCount: 1, responseCount: 1, scheduleTime: T0 + 10 * SECOND })
    expect(pending.firstAttempt?.dispatchTime).toBe(T0)
    expect(pending.lastAttempt).toMatchObject({
      dispatchTime: T0,
      responseTime: T0,
      responseStatus: { code: Status.INTERNAL, message: "INTERNAL(13): HTTP status code 500" }
    })
  })
})

describe("delivery", () => {
  it("counts a failed or rejected delivery as an attempt without a response, and retries", async () => {
    const { clock, engine } = setup(inTurn({ fail: "connection refused" }, { reject: "handler crashed" }, 200), BACKOFF)
    const created = engine.createTask(QUEUE, task())
    await clock.advance(3600 * SECOND)
    expect(engine.attempts().map(({ status, error }) => ({ status, error }))).toEqual([
      { status: undefined, error: "UNAVAILABLE: connection refused" },
      { status: undefined, error: "UNAVAILABLE: handler crashed" },
      { status: 200, error: undefined }
    ])
    expect(engine.outcome(created.name)?.attempts.map((attempt) => attempt.startedAt.getTime() - T0)).toEqual([
      0,
      10 * SECOND,
      30 * SECOND
    ])
  })

  it("signs an OIDC token with the injected signer at the clock's time, the audience defaulting to the URL", async () => {
    const signed: Array<[string, string, number]> = []
    const { clock, target, engine } = setup(inTurn(200), {}, {
      idToken: (email, audience, nowMs) => {
        signed.push([email, audience, nowMs])
        return "signed-token"
      }
    })
    engine.createTask(
      QUEUE,
      task({
        httpRequest: {
          url: "http://target.test/secure",
          httpMethod: "POST",
          headers: [["Authorization", "Bearer caller's"]],
          body: Buffer.alloc(0),
          oidcToken: { serviceAccountEmail: "sa@p.iam.gserviceaccount.com", audience: "" },
          oauthToken: undefined
        }
      })
    )
    await clock.advance(7 * SECOND)
    expect(signed).toEqual([["sa@p.iam.gserviceaccount.com", "http://target.test/secure", T0]])
    const authorization = target.sent[0]?.request.headers.filter(([key]) => key.toLowerCase() === "authorization")
    expect(authorization).toEqual([["Authorization", "Bearer signed-token"]])
  })
})

describe("an attempt answered during its dispatch", () => {
  it("is counted before the next dispatch: 20,000 such tasks run in order, one at a time, without deepening the stack", async () => {
    const s = setup(() => 200)
    // Unthrottled, as the in-process queue's default queue is: every due task goes in one pump.
    const queue = s.engine.ensureQueue(`${LOCATION}/queues/unthrottled`, { maxConcurrentDispatches: 1 }, false).name
    const names = Array.from({ length: 20_000 }, () => s.engine.createTask(queue, task()).name)
    await s.clock.advance(0)
    expect(s.target.sent.map((sent) => sent.request.task)).toEqual(names)
    expect(s.target.maxInFlight()).toBe(1)
    // Each finished: none is stored any more, and the latest outcomes the log keeps say so.
    expect(s.engine.listTasks(queue, 1000, "").items).toEqual([])
    expect(names.slice(-1000).every((name) => s.engine.outcome(name)?.result === "succeeded")).toBe(true)
  })
})

describe("rate limits", () => {
  /** Creates `count` tasks on the paused queue, then resumes it at `T0 + 1 s`. */
  const burst = async (setupResult: ReturnType<typeof setup>, count: number) => {
    const { clock, engine } = setupResult
    engine.pauseQueue(QUEUE)
    for (let i = 0; i < count; i++) engine.createTask(QUEUE, task(named(`t${i}`)))
    await clock.advance(SECOND)
    engine.resumeQueue(QUEUE)
    return T0 + SECOND
  }

  it("spaces a burst by the token bucket: 4/s with a burst of 1 is one every 250 ms", async () => {
    const s = setup(inTurn(200), { maxDispatchesPerSecond: 4 })
    const resumedAt = await burst(s, 5)
    await s.clock.advance(60 * SECOND)
    expect(s.target.secondsAfter(resumedAt)).toEqual([0, 0.25, 0.5, 0.75, 1])
    expect(s.target.sent.map((sent) => sent.request.task)).toEqual([0, 1, 2, 3, 4].map((i) => `${QUEUE}/tasks/t${i}`))
  })

  it("lets the burst size go at once, then one token at a time: 20/s has a burst of 4", async () => {
    const s = setup(inTurn(200), { maxDispatchesPerSecond: 20 })
    const resumedAt = await burst(s, 8)
    await s.clock.advance(60 * SECOND)
    expect(s.target.secondsAfter(resumedAt)).toEqual([0, 0, 0, 0, 0.05, 0.1, 0.15, 0.2])
  })

  it("follows an UpdateQueue of the rate", async () => {
    const s = setup(inTurn(200), { maxDispatchesPerSecond: 500 })
    s.engine.updateQueue(QUEUE, { maxDispatchesPerSecond: 2 })
    const resumedAt = await burst(s, 3)
    await s.clock.advance(60 * SECOND)
    expect(s.target.secondsAfter(resumedAt)).toEqual([0, 0.5, 1])
  })

  it("never has more attempts in flight than maxConcurrentDispatches", async () => {
    const s = setup(() => ({ status: 200, afterMs: 100 }), { maxConcurrentDispatches: 2 })
    const resumedAt = await burst(s, 5)
    await s.clock.advance(60 * SECOND)
    expect(s.target.secondsAfter(resumedAt)).toEqual([0, 0, 0.1, 0.1, 0.2])
    expect(s.target.maxInFlight()).toBe(2)
  })
})

describe("dispatch deadline", () => {
  it("fires on the clock, aborts the delivery and counts a failed attempt", async () => {
    const { clock, target, engine } = setup(inTurn("hang", 200), BACKOFF)
    const created = engine.createTask(QUEUE, task({ dispatchDeadlineMs: 15 * SECOND }))
    await clock.advance(15 * SECOND - 1)
    expect(target.sent[0]?.abortedAt).toBeUndefined()
    expect(engine.attempts()).toHaveLength(0)
    await clock.advance(1)
    expect(target.sent[0]?.abortedAt).toBe(T0 + 15 * SECOND)
    const [first] = engine.attempts()
    expect(first).toMatchObject({
      status: undefined,
      succeeded: false,
      startedAt: new Date(T0),
      endedAt: new Date(T0 + 15 * SECOND)
    })
    expect(first?.error).toMatch(/^DEADLINE_EXCEEDED/)
    expect(engine.getTask(created.name).lastAttempt?.responseStatus?.code).toBe(Status.DEADLINE_EXCEEDED)

    await clock.advance(3600 * SECOND)
    // Retried after minBackoff, counted as Cloud Tasks counts a missed deadline.
    expect(target.secondsAfter(T0)).toEqual([0, 25])
    const second = target.sent[1]
    expect(header(second, "X-CloudTasks-TaskRetryCount")).toBe("1")
    expect(header(second, "X-CloudTasks-TaskExecutionCount")).toBe("0")
    // As recorded: a missed deadline reads as a 504 on the next attempt.
    expect(header(second, "X-CloudTasks-TaskPreviousResponse")).toBe("504")
    expect(header(second, "X-CloudTasks-TaskRetryReason")).toBe("")
    expect(engine.outcome(created.name)?.result).toBe("succeeded")
  })

  it("ignores what an aborted delivery reports afterwards", async () => {
    const { clock, target, engine } = setup(inTurn({ status: 200, afterMs: 20 * SECOND, ignoresAbort: true }, 500), {
      ...BACKOFF,
      maxAttempts: 2
    })
    const created = engine.createTask(QUEUE, task({ dispatchDeadlineMs: 15 * SECOND }))
    await clock.advance(3600 * SECOND)
    // The late 200 of the first attempt (at 20 s) neither ends the task nor adds an attempt.
    expect(target.secondsAfter(T0)).toEqual([0, 25])
    expect(engine.attempts().map((attempt) => attempt.status)).toEqual([undefined, 500])
    expect(engine.outcome(created.name)?.result).toBe("exhausted")
  })
})

describe("pause and resume", () => {
  it("holds tasks while paused and dispatches them the moment the queue resumes", async () => {
    const { clock, target, engine } = setup(inTurn(200))
    expect(engine.pauseQueue(QUEUE).state).toBe("PAUSED")
    engine.createTask(QUEUE, task())
    await clock.advance(3600 * SECOND)
    expect(target.sent).toHaveLength(0)
    expect(engine.resumeQueue(QUEUE).state).toBe("RUNNING")
    await clock.advance(0)
    expect(target.secondsAfter(T0)).toEqual([3600])
  })

  it("holds a retry that falls due while paused", async () => {
    const { clock, target, engine } = setup(inTurn(500, 200), BACKOFF)
    engine.createTask(QUEUE, task())
    await clock.advance(SECOND)
    engine.pauseQueue(QUEUE)
    await clock.advance(100 * SECOND)
    expect(target.sent).toHaveLength(1)
    engine.resumeQueue(QUEUE)
    await clock.advance(0)
    expect(target.secondsAfter(T0)).toEqual([0, 101])
  })

  it("RunTask dispatches at once, on a paused queue and before scheduleTime", async () => {
    const { clock, target, engine } = setup(inTurn(200))
    engine.pauseQueue(QUEUE)
    const created = engine.createTask(QUEUE, task({ scheduleTime: T0 + 3600 * SECOND }))
    await clock.advance(5 * SECOND)
    expect(engine.runTask(created.name).dispatchCount).toBe(1)
    await clock.advance(0)
    expect(target.secondsAfter(T0)).toEqual([5])
    expect(engine.outcome(created.name)?.result).toBe("succeeded")
  })
})

describe("the clock", () => {
  it("gives exact times far from the system clock: create, schedule, ETA, attempts, outcome", async () => {
    const { clock, target, engine } = setup(inTurn(200))
    const created = engine.createTask(QUEUE, task({ ...named("later"), scheduleTime: T0 + 90 * SECOND }))
    expect(created).toMatchObject({ createTime: T0, scheduleTime: T0 + 90 * SECOND })
    await clock.advance(90 * SECOND - 1)
    expect(target.sent).toHaveLength(0)
    await clock.advance(1)
    expect(target.secondsAfter(T0)).toEqual([90])
    expect(header(target.sent[0], "X-CloudTasks-TaskETA")).toBe(((T0 + 90 * SECOND) / 1000).toFixed(6))
    expect(engine.outcome(created.name)).toMatchObject({
      result: "succeeded",
      at: new Date(T0 + 90 * SECOND),
      attempts: [{ startedAt: new Date(T0 + 90 * SECOND), endedAt: new Date(T0 + 90 * SECOND) }]
    })
  })

  it("expires tombstones on the clock: a name is taken for the dedup window, then free", async () => {
    const { clock, engine } = setup(inTurn(200))
    engine.pauseQueue(QUEUE)
    const created = engine.createTask(QUEUE, task(named("once")))
    engine.deleteTask(created.name)
    await clock.advance(60 * SECOND - 1)
    expect(() => engine.createTask(QUEUE, task(named("once")))).toThrow(
      new ApiError(Status.ALREADY_EXISTS, "Requested entity already exists")
    )
    await clock.advance(1)
    expect(engine.createTask(QUEUE, task(named("once"))).createTime).toBe(T0 + 60 * SECOND)
  })

  it("refuses a scheduleTime more than 30 days ahead of the clock", () => {
    const { engine } = setup(inTurn(200))
    const days = (n: number) => T0 + n * 24 * 3600 * SECOND
    expect(() => engine.createTask(QUEUE, task({ scheduleTime: days(30) + 1 }))).toThrow(/is too far in the future/)
    expect(engine.createTask(QUEUE, task({ scheduleTime: days(30) })).scheduleTime).toBe(days(30))
  })

  it("times waits out on the clock, and fails pending waits on close", async () => {
    const { clock, engine } = setup(inTurn(200))
    const timedOut = engine.waitForAttempts(1, { queue: QUEUE }, 5 * SECOND).then(() => undefined, (e: Error) => e.message)
    await clock.advance(5 * SECOND - 1)
    const pending = engine.waitForTask(`${QUEUE}/tasks/never`, 3600 * SECOND).then(() => undefined, (e: Error) => e.message)
    await clock.advance(1)
    expect(await timedOut).toBe(`Timed out after 5000 ms: waiting for 1 delivery attempt(s) in ${QUEUE}, saw 0`)
    engine.close()
    expect(await pending).toBe("engine closed")
  })

  it("a task's end wakes the waits for that task only: many waits cost nothing per attempt", async () => {
    // Waits were checked all at once after every attempt and every end: with one wait per task,
    // 10,000 tasks cost 10,000 checks per attempt and starved the deliveries (the reliability suite).
    const { clock, engine } = setup(inTurn(500, 200))
    const names = Array.from({ length: 200 }, () => engine.createTask(QUEUE, task()).name)
    const outcome = vi.spyOn(engine, "outcome")
    const waits = names.map((name) => engine.waitForTask(name, 3600 * SECOND))
    expect(outcome).toHaveBeenCalledTimes(names.length)
    outcome.mockClear()
    await clock.advance(3600 * SECOND - 1)
    expect((await Promise.all(waits)).map((outcome) => outcome.result)).toEqual(names.map(() => "succeeded"))
    // Each wait is checked when its own task ends (and read once more for its answer), not at every event.
    expect(outcome.mock.calls.length).toBeLessThanOrEqual(2 * names.length)
  })

  it("a wait for a task that times out says what its attempts got", async () => {
    const { clock, engine } = setup(inTurn({ fail: "connect ECONNREFUSED 127.0.0.1:9" }), BACKOFF)
    const refused = engine.createTask(QUEUE, task(named("refused")))
    const timedOut = engine.waitForTask(refused.name, 60 * SECOND).then(() => undefined, (e: Error) => e.message)
    await clock.advance(60 * SECOND)
    expect(await timedOut).toBe(
      `Timed out after 60000 ms: waiting for task ${refused.name} to finish (3 attempts, every one failed: UNAVAILABLE: connect ECONNREFUSED 127.0.0.1:9)`
    )

    const mixed = setup(inTurn({ fail: "socket hang up" }, 503), BACKOFF)
    const retried = mixed.engine.createTask(QUEUE, task(named("mixed")))
    const waited = mixed.engine.waitForTask(retried.name, 15 * SECOND).then(() => undefined, (e: Error) => e.message)
    await mixed.clock.advance(15 * SECOND)
    expect(await waited).toMatch(/\(2 attempts, the last answered 503\)$/)

    const idle = setup(inTurn(200))
    idle.engine.pauseQueue(QUEUE)
    const paused = idle.engine.createTask(QUEUE, task(named("paused")))
    const never = idle.engine.waitForTask(paused.name, SECOND).then(() => undefined, (e: Error) => e.message)
    await idle.clock.advance(SECOND)
    expect(await never).toMatch(/\(no attempt yet\)$/)
  })

  it("close aborts attempts in flight and stops every timer", async () => {
    const { clock, target, engine } = setup(inTurn("hang"))
    engine.createTask(QUEUE, task())
    engine.createTask(QUEUE, task({ scheduleTime: T0 + 60 * SECOND }))
    await clock.advance(SECOND)
    engine.close()
    expect(target.sent[0]?.abortedAt).toBe(T0 + SECOND)
    await clock.advance(3600 * SECOND)
    expect(target.sent).toHaveLength(1)
    expect(engine.attempts()).toHaveLength(0)
  })

  it("never reads the system clock nor sets a system timer", async () => {
    const dateNow = vi.spyOn(Date, "now")
    const performanceNow = vi.spyOn(performance, "now")
    const setTimeoutSpy = vi.spyOn(globalThis, "setTimeout")
    try {
      const { clock, engine } = setup(inTurn(503, { status: 429, retryAfter: new Date(T0).toUTCString() }, "hang", 200), {
        ...BACKOFF,
        maxDispatchesPerSecond: 1
      })
      for (let i = 0; i < 3; i++) engine.createTask(QUEUE, task({ dispatchDeadlineMs: 15 * SECOND }))
      const waited = engine.waitForAttempts(6, {}, 3600 * SECOND)
      await clock.advance(3600 * SECOND)
      await waited
      engine.close()
      expect(dateNow).not.toHaveBeenCalled()
      expect(performanceNow).not.toHaveBeenCalled()
      expect(setTimeoutSpy).not.toHaveBeenCalled()
    } finally {
      dateNow.mockRestore()
      performanceNow.mockRestore()
      setTimeoutSpy.mockRestore()
    }
  })

  it("is the only place in the engine's sources that reads time or sets timers; no gRPC, HTTP or emulator import", () => {
    const dir = join(import.meta.dirname, "..", "..", "src", "internal", "engine")
    const code = (file: string) =>
      readFileSync(join(dir, file), "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1")
    const files = readdirSync(dir).filter((file) => file.endsWith(".ts"))
    expect(files).toContain("scheduler.ts")
    const offenders = (pattern: RegExp) => files.filter((file) => pattern.test(code(file)))
    expect(offenders(/Date\.now|performance|setTimeout|setInterval|setImmediate/)).toEqual(["clock.ts"])
    expect(offenders(/["'](node:)?https?["']|@grpc|google-gax|@google-cloud|\/emulator\//)).toEqual([])
  })
})

describe("systemClock", () => {
  it("re-arms a wait longer than setTimeout allows until it is over, and cancels it", () => {
    vi.useFakeTimers()
    try {
      const clock = systemClock()
      const max = 2 ** 31 - 1
      const fired: Array<string> = []
      clock.setTimer(max + 5000, () => fired.push("long"))
      const cancel = clock.setTimer(max + 9000, () => fired.push("cancelled"))
      vi.advanceTimersByTime(max)
      expect(fired).toEqual([])
      vi.advanceTimersByTime(4999)
      expect(fired).toEqual([])
      vi.advanceTimersByTime(1)
      expect(fired).toEqual(["long"])
      cancel()
      vi.advanceTimersByTime(10_000)
      expect(fired).toEqual(["long"])
    } finally {
      vi.useRealTimers()
    }
  })

  it("never goes backwards, even when the clock it reads does", () => {
    const readings = [1000, 900, 1200]
    const clock = systemClock(() => readings.shift()!)
    expect([clock.now(), clock.now(), clock.now()]).toEqual([1000, 1000, 1200])
  })
})
