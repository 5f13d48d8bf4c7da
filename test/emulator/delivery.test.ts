/**
 * Delivery of HTTP tasks to real HTTP servers on 127.0.0.1: the headers real Cloud Tasks was recorded sending
 * (the 503 → 404 → 200 sequence, stored header casing, User-Agent, no added Content-Type),
 * views, scheduling, pause/resume, purge, RunTask, retries with backoff and the dispatch
 * deadline.
 */
import type { CloudTasksClient } from "@google-cloud/tasks"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@effect/vitest"
import { CloudTasksEmulator, type RunningCloudTasksEmulator } from "../../src/CloudTasksEmulator.js"
import { modelDelay } from "../utils/backoffModel.js"
import { createQueue, expectGrpcError, FAST_RETRY, sleep } from "../utils/emulator.js"
import { grpc, makeClient } from "../utils/emulatorClient.js"
import { header, type Reply, startTarget, type Target } from "../utils/emulatorTarget.js"

let emulator: RunningCloudTasksEmulator
let client: CloudTasksClient
const targets: Array<Target> = []

beforeAll(async () => {
  emulator = await CloudTasksEmulator.start({ minDispatchDeadline: "50 millis" })
  client = makeClient(emulator.host)
})

afterEach(async () => {
  await Promise.all(targets.splice(0).map((target) => target.close()))
})

afterAll(async () => {
  await client.close()
  await emulator.stop()
})

/** A target answering `replies` in turn (the last one from then on). */
const target = async (...replies: ReadonlyArray<Reply>): Promise<Target> => {
  const started = await startTarget((_, index) => replies[Math.min(index, replies.length - 1)] ?? 200)
  targets.push(started)
  return started
}

const shortId = (name: string) => name.slice(name.lastIndexOf("/") + 1)

describe("headers on each dispatch", () => {
  it("follows the recorded 503 → 404 → 429 → 500 → 302 → 200 sequence: retry count, execution count, previous response, retry reason", async () => {
    const server = await target(503, 404, 429, 500, 302, 200)
    const queue = await createQueue(client, undefined, { retryConfig: { ...FAST_RETRY, maxAttempts: 10 } })
    const name = `${queue}/tasks/sequence-1`
    await client.createTask({ parent: queue, task: { name, httpRequest: { url: `${server.url}/work`, body: Buffer.from("{}") } } })

    const outcome = await emulator.waitForTask(name)
    expect(outcome.result).toBe("succeeded")
    expect(outcome.attempts.map((attempt) => attempt.status)).toEqual([503, 404, 429, 500, 302, 200])

    const received = server.requests
    expect(received).toHaveLength(6)
    const row = (i: number) => ({
      retry: header(received[i]!, "X-CloudTasks-TaskRetryCount"),
      execution: header(received[i]!, "X-CloudTasks-TaskExecutionCount"),
      previous: header(received[i]!, "X-CloudTasks-TaskPreviousResponse"),
      reason: header(received[i]!, "X-CloudTasks-TaskRetryReason")
    })
    expect(row(0)).toEqual({ retry: "0", execution: "0", previous: undefined, reason: undefined })
    expect(row(1)).toEqual({ retry: "1", execution: "0", previous: "503", reason: "" })
    expect(row(2)).toEqual({ retry: "2", execution: "1", previous: "404", reason: "" })
    // 429 counts as an execution, as 4xx and 3xx do; only 5xx does not.
    expect(row(3)).toEqual({ retry: "3", execution: "2", previous: "429", reason: "" })
    expect(row(4)).toEqual({ retry: "4", execution: "2", previous: "500", reason: "" })
    expect(row(5)).toEqual({ retry: "5", execution: "3", previous: "302", reason: "" })

    for (const request of received) {
      expect(request.headers["User-Agent"]).toBe("Google-Cloud-Tasks")
      expect(request.headers["X-CloudTasks-QueueName"]).toBe(shortId(queue))
      expect(request.headers["X-CloudTasks-TaskName"]).toBe("sequence-1")
      const eta = Number(request.headers["X-CloudTasks-TaskETA"])
      expect(eta).toBeGreaterThan(Date.now() / 1000 - 60)
      expect(eta).toBeLessThanOrEqual(request.receivedAt / 1000 + 1)
    }
  })

  it("keeps the stored headers' casing, adds User-Agent, never adds a Content-Type", async () => {
    const server = await target(200)
    const queue = await createQueue(client)
    await client.pauseQueue({ name: queue })
    const [json] = await client.createTask({
      parent: queue,
      task: { httpRequest: { url: `${server.url}/json`, headers: { "content-type": "application/json", "X-Mixed-Case": "preserve-me" }, body: Buffer.from("{}") } }
    })
    const [plain] = await client.createTask({
      parent: queue,
      task: { httpRequest: { url: `${server.url}/plain`, headers: { "X-Mixed-Case": "preserve-me" }, body: Buffer.from("raw") } }
    })
    const stored = { "content-type": "application/json", "X-Mixed-Case": "preserve-me", "User-Agent": "Google-Cloud-Tasks" }
    expect(json.httpRequest?.headers).toEqual(stored)
    expect(plain.httpRequest?.headers).toEqual({ "X-Mixed-Case": "preserve-me", "User-Agent": "Google-Cloud-Tasks" })
    const [fetched] = await client.getTask({ name: json.name!, responseView: "FULL" })
    expect(fetched.httpRequest?.headers).toEqual(stored)

    await client.resumeQueue({ name: queue })
    const received = await server.waitFor(2)
    const byPath = (path: string) => received.find((request) => request.path === path)!
    expect(byPath("/json").headers["content-type"]).toBe("application/json")
    expect(byPath("/json").headers["X-Mixed-Case"]).toBe("preserve-me")
    expect(header(byPath("/plain"), "content-type")).toBeUndefined()
    expect(byPath("/plain").body.toString()).toBe("raw")
  })

  it("replaces a caller's User-Agent with Google-Cloud-Tasks", async () => {
    const queue = await createQueue(client)
    await client.pauseQueue({ name: queue })
    const [task] = await client.createTask({
      parent: queue,
      task: { httpRequest: { url: "http://127.0.0.1:9/x", headers: { "user-agent": "mine/1.0" } } }
    })
    expect(task.httpRequest?.headers).toEqual({ "User-Agent": "Google-Cloud-Tasks" })
  })

  it("delivers the body as bytes, with the method and URL of the task", async () => {
    const server = await target(204)
    const queue = await createQueue(client)
    const body = Buffer.from([0, 1, 2, 0xfe, 0xff, 10, 13])
    const [task] = await client.createTask({
      parent: queue,
      task: { httpRequest: { url: `${server.url}/bytes?x=1`, httpMethod: "PUT", body } }
    })
    const [request] = await server.waitFor(1)
    expect(request!.method).toBe("PUT")
    expect(request!.path).toBe("/bytes?x=1")
    expect(request!.body.equals(body)).toBe(true)
    expect(request!.headers["Content-Length"]).toBe(String(body.length))
    const [attempt] = await emulator.waitForAttempts(1, { task: task.name! })
    expect(Buffer.from(attempt!.body).equals(body)).toBe(true)
    expect(attempt!.succeeded).toBe(true)
  })
})

describe("views", () => {
  it("BASIC (the default) leaves the body out, FULL includes it, in Create, Get and List", async () => {
    const queue = await createQueue(client)
    await client.pauseQueue({ name: queue })
    const body = Buffer.from("payload")
    const [created] = await client.createTask({ parent: queue, task: { httpRequest: { url: "http://127.0.0.1:9/v", body } } })
    expect(created.view).toBe("BASIC")
    expect(Buffer.from(created.httpRequest!.body as Uint8Array).length).toBe(0)

    const [basic] = await client.getTask({ name: created.name! })
    expect(basic.view).toBe("BASIC")
    expect(Buffer.from(basic.httpRequest!.body as Uint8Array).length).toBe(0)
    expect(basic.httpRequest?.url).toBe("http://127.0.0.1:9/v")

    const [full] = await client.getTask({ name: created.name!, responseView: "FULL" })
    expect(full.view).toBe("FULL")
    expect(Buffer.from(full.httpRequest!.body as Uint8Array).toString()).toBe("payload")

    const [listedFull] = await client.listTasks({ parent: queue, responseView: "FULL" })
    expect(Buffer.from(listedFull[0]!.httpRequest!.body as Uint8Array).toString()).toBe("payload")
    const [listedBasic] = await client.listTasks({ parent: queue })
    expect(Buffer.from(listedBasic[0]!.httpRequest!.body as Uint8Array).length).toBe(0)
  })
})

describe("scheduling", () => {
  it("delivers at scheduleTime, not before, in schedule order, with the ETA header", async () => {
    const server = await target(200)
    const queue = await createQueue(client)
    const now = Date.now()
    const at = (ms: number) => ({ seconds: Math.floor((now + ms) / 1000), nanos: ((now + ms) % 1000) * 1e6 })
    await client.createTask({ parent: queue, task: { scheduleTime: at(500), httpRequest: { url: `${server.url}/late` } } })
    await client.createTask({ parent: queue, task: { scheduleTime: at(250), httpRequest: { url: `${server.url}/early` } } })

    const received = await server.waitFor(2)
    expect(received.map((request) => request.path)).toEqual(["/early", "/late"])
    expect(received[0]!.receivedAt).toBeGreaterThanOrEqual(now + 250 - 5)
    expect(received[1]!.receivedAt).toBeGreaterThanOrEqual(now + 500 - 5)
    expect(Number(received[1]!.headers["X-CloudTasks-TaskETA"])).toBeCloseTo((now + 500) / 1000, 2)
  })

  it("keeps a future task listed with its scheduleTime until it is due", async () => {
    const queue = await createQueue(client)
    const seconds = Math.floor(Date.now() / 1000) + 3600
    const [task] = await client.createTask({ parent: queue, task: { scheduleTime: { seconds }, httpRequest: { url: "http://127.0.0.1:9/x" } } })
    const [fetched] = await client.getTask({ name: task.name! })
    expect(Number(fetched.scheduleTime?.seconds)).toBe(seconds)
    expect(fetched.dispatchCount).toBe(0)
  })
})

describe("pause, resume, purge, run", () => {
  it("holds tasks while paused and delivers them on resume", async () => {
    const server = await target(200)
    const queue = await createQueue(client)
    const [paused] = await client.pauseQueue({ name: queue })
    expect(paused.state).toBe("PAUSED")
    await client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/held` } } })
    await sleep(250)
    expect(server.requests).toHaveLength(0)
    const [resumed] = await client.resumeQueue({ name: queue })
    expect(resumed.state).toBe("RUNNING")
    expect((await server.waitFor(1))[0]!.path).toBe("/held")
  })

  it("purge deletes every task so that none is delivered", async () => {
    const server = await target(200)
    const queue = await createQueue(client)
    await client.pauseQueue({ name: queue })
    const names: Array<string> = []
    for (let i = 0; i < 3; i++) {
      const [task] = await client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/p${i}` } } })
      names.push(task.name!)
    }
    const [purged] = await client.purgeQueue({ name: queue })
    expect(Number(purged.purgeTime?.seconds)).toBeGreaterThan(0)
    const [listed] = await client.listTasks({ parent: queue })
    expect(listed).toHaveLength(0)
    expect((await emulator.waitForTask(names[0]!)).result).toBe("purged")
    await client.resumeQueue({ name: queue })
    await sleep(200)
    expect(server.requests).toHaveLength(0)
    // Tasks created after the purge run normally.
    await client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/after` } } })
    expect((await server.waitFor(1))[0]!.path).toBe("/after")
  })

  it("RunTask dispatches at once, even on a paused queue and before scheduleTime", async () => {
    const server = await target(200)
    const queue = await createQueue(client)
    await client.pauseQueue({ name: queue })
    const [task] = await client.createTask({
      parent: queue,
      task: { scheduleTime: { seconds: Math.floor(Date.now() / 1000) + 3600 }, httpRequest: { url: `${server.url}/run` } }
    })
    const [ran] = await client.runTask({ name: task.name! })
    expect(ran.dispatchCount).toBe(1)
    expect(ran.lastAttempt?.dispatchTime).toBeTruthy()
    expect((await server.waitFor(1))[0]!.path).toBe("/run")
    expect((await emulator.waitForTask(task.name!)).result).toBe("succeeded")
  })

  it("DeleteTask removes a task before it runs", async () => {
    const server = await target(200)
    const queue = await createQueue(client)
    await client.pauseQueue({ name: queue })
    const [task] = await client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/deleted` } } })
    await client.deleteTask({ name: task.name! })
    await client.resumeQueue({ name: queue })
    await sleep(150)
    expect(server.requests).toHaveLength(0)
    expect((await emulator.waitForTask(task.name!)).result).toBe("deleted")
  })
})

describe("retries", () => {
  it("retries any non-2xx (4xx included) and reports the attempt on the task meanwhile", async () => {
    const server = await target(500, 200)
    const queue = await createQueue(client, undefined, {
      retryConfig: { maxAttempts: 3, minBackoff: { nanos: 400_000_000 }, maxBackoff: { nanos: 400_000_000 } }
    })
    const [task] = await client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/flaky` } } })
    await emulator.waitForAttempts(1, { task: task.name! })
    const [pending] = await client.getTask({ name: task.name! })
    expect(pending.dispatchCount).toBe(1)
    expect(pending.responseCount).toBe(1)
    expect(pending.lastAttempt?.responseStatus).toMatchObject({ code: grpc.status.INTERNAL })
    expect(Number(pending.scheduleTime?.seconds)).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000))
    expect((await emulator.waitForTask(task.name!)).attempts.map((attempt) => attempt.status)).toEqual([500, 200])
  })

  it("stops after maxAttempts; the task is gone", async () => {
    const server = await target(500)
    const queue = await createQueue(client, undefined, {
      retryConfig: { maxAttempts: 3, minBackoff: { nanos: 10_000_000 }, maxBackoff: { nanos: 20_000_000 } }
    })
    const [task] = await client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/fails` } } })
    const outcome = await emulator.waitForTask(task.name!)
    expect(outcome.result).toBe("exhausted")
    expect(outcome.attempts.map((attempt) => attempt.status)).toEqual([500, 500, 500])
    await sleep(100)
    expect(server.requests).toHaveLength(3)
    await expectGrpcError(
      client.getTask({ name: task.name! }),
      grpc.status.NOT_FOUND,
      "The task no longer exists, though a task with this name existed recently. The task either successfully completed or was deleted."
    )
  })

  it("backs off from minBackoff, doubling maxDoublings times, then linearly, capped at maxBackoff", async () => {
    const server = await target(500)
    const queue = await createQueue(client, undefined, {
      retryConfig: {
        maxAttempts: 7,
        minBackoff: { nanos: 40_000_000 },
        maxBackoff: { nanos: 250_000_000 },
        maxDoublings: 1
      }
    })
    const [task] = await client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/backoff` } } })
    const outcome = await emulator.waitForTask(task.name!)
    expect(outcome.attempts).toHaveLength(7)
    // 40, 80 (one doubling), 160, 240 (linear by 80), 250, 250 (capped): each retry is due
    // (its X-CloudTasks-TaskETA) exactly the model's delay after the previous attempt ended.
    expect([1, 2, 3, 4, 5, 6].map((k) => modelDelay(40, 250, 1, k))).toEqual([40, 80, 160, 240, 250, 250])
    outcome.attempts.slice(1).forEach((attempt, i) => {
      const eta = Math.round(Number(attempt.headers["X-CloudTasks-TaskETA"]) * 1000)
      expect(eta).toBe(outcome.attempts[i]!.endedAt.getTime() + modelDelay(40, 250, 1, i + 1))
      expect(attempt.startedAt.getTime()).toBeGreaterThanOrEqual(eta)
    })
  })

  it("with unlimited attempts, stops after maxRetryDuration", async () => {
    const server = await target(500)
    const queue = await createQueue(client, undefined, {
      retryConfig: {
        maxAttempts: -1,
        maxRetryDuration: { nanos: 300_000_000 },
        minBackoff: { nanos: 50_000_000 },
        maxBackoff: { nanos: 50_000_000 }
      }
    })
    const [task] = await client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/aging` } } })
    const outcome = await emulator.waitForTask(task.name!)
    expect(outcome.result).toBe("exhausted")
    const first = outcome.attempts[0]!.startedAt.getTime()
    const last = outcome.attempts[outcome.attempts.length - 1]!.startedAt.getTime()
    expect(last - first).toBeGreaterThanOrEqual(250)
    expect(outcome.attempts.length).toBeGreaterThanOrEqual(3)
  })

  it("backs off harder after 429 and 503 than after other failures", async () => {
    const retryConfig = { maxAttempts: 5, minBackoff: { nanos: 100_000_000 }, maxBackoff: { seconds: 10 } }
    const gapAfter = async (status: number) => {
      const server = await target(status, 200)
      const queue = await createQueue(client, undefined, { retryConfig })
      const [task] = await client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/s${status}` } } })
      await emulator.waitForTask(task.name!)
      return server.requests[1]!.receivedAt - server.requests[0]!.receivedAt
    }
    const [after500, after429, after503] = await Promise.all([gapAfter(500), gapAfter(429), gapAfter(503)])
    expect(after500).toBeGreaterThanOrEqual(95)
    expect(after429).toBeGreaterThanOrEqual(195)
    expect(after503).toBeGreaterThanOrEqual(195)
  })

  it("honours Retry-After", async () => {
    const server = await target({ status: 503, headers: { "Retry-After": "1" } }, 200)
    const queue = await createQueue(client)
    const [task] = await client.createTask({ parent: queue, task: { httpRequest: { url: `${server.url}/later` } } })
    await emulator.waitForTask(task.name!)
    expect(server.requests[1]!.receivedAt - server.requests[0]!.receivedAt).toBeGreaterThanOrEqual(990)
  })

  it("counts an unreachable target as a failed attempt and retries", async () => {
    const queue = await createQueue(client, undefined, { retryConfig: { maxAttempts: 2, minBackoff: { nanos: 10_000_000 } } })
    const [task] = await client.createTask({ parent: queue, task: { httpRequest: { url: "http://127.0.0.1:9/closed" } } })
    const outcome = await emulator.waitForTask(task.name!)
    expect(outcome.result).toBe("exhausted")
    expect(outcome.attempts).toHaveLength(2)
    expect(outcome.attempts[0]!.status).toBeUndefined()
    expect(outcome.attempts[0]!.error).toMatch(/^UNAVAILABLE/)
  })
})

describe("dispatchDeadline", () => {
  it("aborts the request at the deadline and counts it as a failed attempt", async () => {
    const server = await target({ status: 200, delayMs: 2000 }, 200)
    const queue = await createQueue(client)
    const [task] = await client.createTask({
      parent: queue,
      task: { dispatchDeadline: { nanos: 200_000_000 }, httpRequest: { url: `${server.url}/slow` } }
    })
    const outcome = await emulator.waitForTask(task.name!)
    expect(outcome.result).toBe("succeeded")
    const [first, second] = outcome.attempts
    expect(first!.status).toBeUndefined()
    expect(first!.error).toMatch(/^DEADLINE_EXCEEDED/)
    const took = first!.endedAt.getTime() - first!.startedAt.getTime()
    expect(took).toBeGreaterThanOrEqual(190)
    expect(took).toBeLessThan(1500)
    expect(second!.status).toBe(200)
    expect(second!.headers["X-CloudTasks-TaskRetryCount"]).toBe("1")
    expect(second!.headers["X-CloudTasks-TaskExecutionCount"]).toBe("0")
    // As recorded from the real service: the missed deadline reads as a 504, with an empty reason.
    expect(second!.headers["X-CloudTasks-TaskPreviousResponse"]).toBe("504")
    expect(second!.headers["X-CloudTasks-TaskRetryReason"]).toBe("")
  })
})
