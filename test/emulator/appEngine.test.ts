/**
 * App Engine targets (`appEngineHttpRequest`) through the official client: stored with the
 * headers real Cloud Tasks was recorded adding, validated, and delivered to the host that stands
 * in for App Engine with the recorded `X-AppEngine-*` headers and counting (every earlier attempt
 * is an execution; `App Error` after an answer, `Instance Unavailable` and `0` after a missed
 * deadline), and measured for the 1 MB limit with those headers.
 */
import type { CloudTasksClient } from "@google-cloud/tasks"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "@effect/vitest"
import { CloudTasksEmulator, type RunningCloudTasksEmulator } from "../../src/CloudTasksEmulator.js"
import { createQueue, expectGrpcError, FAST_RETRY, LOCATION } from "../utils/emulator.js"
import { grpc, makeClient } from "../utils/emulatorClient.js"
import { type Reply, startTarget, type Target } from "../utils/emulatorTarget.js"

const AE_USER_AGENT = "AppEngine-Google; (+http://code.google.com/appengine)"

let emulator: RunningCloudTasksEmulator
let client: CloudTasksClient
/** The server standing in for App Engine; what it answers is set per test. */
let appEngine: Target
let replies: ReadonlyArray<Reply> = [200]
/** How many requests the stand-in had received when the current replies were set. */
let offset = 0

/** The stand-in answers the next requests `next` in turn (the last one from then on). */
const answer = (...next: ReadonlyArray<Reply>) => {
  replies = next
  offset = appEngine.requests.length
}

beforeAll(async () => {
  appEngine = await startTarget((_, index) => replies[Math.min(index - offset, replies.length - 1)] ?? 200)
  emulator = await CloudTasksEmulator.start({ appEngineTarget: appEngine.url, minDispatchDeadline: "50 millis" })
  client = makeClient(emulator.host)
})

afterEach(() => {
  answer(200)
})

afterAll(async () => {
  await client.close()
  await emulator.stop()
  await appEngine.close()
})

const pausedQueue = async (label?: string): Promise<string> => {
  const queue = await createQueue(client, label === undefined ? undefined : `${LOCATION}/queues/${label}`)
  await client.pauseQueue({ name: queue })
  return queue
}

describe("stored App Engine tasks", () => {
  it("keep the caller's headers and casing, and get the recorded User-Agent and Content-Length", async () => {
    const queue = await pausedQueue()
    const body = Buffer.from('{"hello":"world"}')
    expect(body.length).toBe(17)
    const [created] = await client.createTask({
      parent: queue,
      task: {
        appEngineHttpRequest: {
          relativeUri: "/recv/appengine",
          headers: { "X-Mixed-Case": "preserve-me", "content-type": "application/json" },
          body
        }
      },
      responseView: "FULL"
    })
    const recorded = {
      "Content-Length": "17",
      "User-Agent": AE_USER_AGENT,
      "X-Mixed-Case": "preserve-me",
      "content-type": "application/json"
    }
    expect(created.appEngineHttpRequest?.headers).toEqual(recorded)
    const [basic] = await client.getTask({ name: created.name! })
    expect(basic.appEngineHttpRequest?.headers).toEqual(recorded)
    expect(basic.appEngineHttpRequest?.relativeUri).toBe("/recv/appengine")
    expect(basic.appEngineHttpRequest?.httpMethod).toBe("POST")
    expect(basic.httpRequest).toBeFalsy()
  })

  it("without a Content-Type get application/octet-stream, as recorded", async () => {
    const queue = await pausedQueue()
    const [created] = await client.createTask({
      parent: queue,
      task: { appEngineHttpRequest: { relativeUri: "/recv", headers: { "X-Mixed-Case": "preserve-me" }, body: Buffer.alloc(17, 97) } }
    })
    expect(created.appEngineHttpRequest?.headers).toEqual({
      "Content-Length": "17",
      "Content-Type": "application/octet-stream",
      "User-Agent": AE_USER_AGENT,
      "X-Mixed-Case": "preserve-me"
    })
  })

  it("report their routing and the host they are sent to", async () => {
    const queue = await pausedQueue()
    const [created] = await client.createTask({
      parent: queue,
      task: { appEngineHttpRequest: { relativeUri: "/r", appEngineRouting: { service: "worker", version: "v2" } } }
    })
    expect(created.appEngineHttpRequest?.appEngineRouting).toMatchObject({
      service: "worker",
      version: "v2",
      host: new URL(appEngine.url).host
    })
  })

  it("refuse a relative URI that does not start with a slash, and a body on a GET", async () => {
    const queue = await pausedQueue()
    await expectGrpcError(
      client.createTask({ parent: queue, task: { appEngineHttpRequest: { relativeUri: "no-slash" } } }),
      grpc.status.INVALID_ARGUMENT,
      "AppEngineHttpRequest.relativeUri must begin with a slash (/)."
    )
    await expectGrpcError(
      client.createTask({ parent: queue, task: { appEngineHttpRequest: { relativeUri: "/g", httpMethod: "GET", body: Buffer.from("x") } } }),
      grpc.status.INVALID_ARGUMENT,
      "AppEngineHttpRequest.body can be set only for POST or PUT requests, not GET."
    )
  })

  it("count their headers toward the 1 MB task limit", async () => {
    // A small App Engine task: a generated 20-digit ID in this queue (name and relative URI of
    // 134 characters together) and a scheduleTime with nanos. The stored User-Agent,
    // Content-Type and Content-Length leave room for a body of 1,048,256 bytes, 112 fewer than a
    // small HTTP task gets (see the recorded HTTP boundary in apiErrors.test.ts).
    const queue = await pausedQueue("appengine-size-x")
    const relativeUri = `/${"r".repeat(134 - `${queue}/tasks/`.length - 20 - 1)}`
    const scheduleTime = { seconds: Math.floor(Date.now() / 1000) + 3600, nanos: 500_000_000 }
    const create = (bytes: number) =>
      client.createTask({ parent: queue, task: { scheduleTime, appEngineHttpRequest: { relativeUri, body: Buffer.alloc(bytes, 97) } } })
    const [accepted] = await create(1_048_256)
    expect(accepted.appEngineHttpRequest?.headers?.["Content-Length"]).toBe("1048256")
    await expectGrpcError(create(1_048_257), grpc.status.INVALID_ARGUMENT, "Task size too large")
  })
})

describe("delivery to App Engine", () => {
  it("follows the recorded 503 → 404 → 200 sequence with the X-AppEngine-* headers", async () => {
    answer(503, 404, 200)
    const queue = await createQueue(client)
    const name = `${queue}/tasks/appengine-sequence`
    const before = appEngine.requests.length
    await client.createTask({
      parent: queue,
      task: { name, appEngineHttpRequest: { relativeUri: "/recv/appengine?x=1", body: Buffer.from("{}") } }
    })
    const outcome = await emulator.waitForTask(name)
    expect(outcome.result).toBe("succeeded")
    const received = appEngine.requests.slice(before)
    expect(received.map((request) => request.path)).toEqual(["/recv/appengine?x=1", "/recv/appengine?x=1", "/recv/appengine?x=1"])
    const row = (i: number) => {
      const headers = received[i]!.headers
      return {
        userAgent: headers["User-Agent"],
        queue: headers["X-AppEngine-QueueName"],
        task: headers["X-AppEngine-TaskName"],
        retry: headers["X-AppEngine-TaskRetryCount"],
        execution: headers["X-AppEngine-TaskExecutionCount"],
        previous: headers["X-AppEngine-TaskPreviousResponse"],
        reason: headers["X-AppEngine-TaskRetryReason"],
        eta: headers["X-AppEngine-TaskETA"] !== undefined,
        cloudTasksHeaders: Object.keys(headers).filter((key) => key.startsWith("X-CloudTasks-"))
      }
    }
    const common = { userAgent: AE_USER_AGENT, queue: queue.slice(queue.lastIndexOf("/") + 1), task: "appengine-sequence", eta: true, cloudTasksHeaders: [] }
    expect(row(0)).toEqual({ ...common, retry: "0", execution: "0", previous: undefined, reason: undefined })
    // Unlike HTTP targets, an attempt answered 5xx counts as an execution.
    expect(row(1)).toEqual({ ...common, retry: "1", execution: "1", previous: "503", reason: "App Error" })
    expect(row(2)).toEqual({ ...common, retry: "2", execution: "2", previous: "404", reason: "App Error" })
    expect(received[0]!.headers.Host).toBe(new URL(appEngine.url).host)
  })

  it("after a missed deadline reports Instance Unavailable with previous response 0", async () => {
    answer({ status: 200, delayMs: 2000 }, 200)
    const queue = await createQueue(client, undefined, { retryConfig: FAST_RETRY })
    const [task] = await client.createTask({
      parent: queue,
      task: { dispatchDeadline: { nanos: 200_000_000 }, appEngineHttpRequest: { relativeUri: "/slow" } }
    })
    const outcome = await emulator.waitForTask(task.name!)
    const [first, second] = outcome.attempts
    expect(first!.error).toMatch(/^DEADLINE_EXCEEDED/)
    expect(second!.headers).toMatchObject({
      "X-AppEngine-TaskRetryCount": "1",
      "X-AppEngine-TaskExecutionCount": "1",
      "X-AppEngine-TaskPreviousResponse": "0",
      "X-AppEngine-TaskRetryReason": "Instance Unavailable"
    })
  })

  it("allows dispatch deadlines up to 24 hours, as App Engine's basic and manual scaling do", async () => {
    const queue = await pausedQueue()
    const [task] = await client.createTask({
      parent: queue,
      task: { dispatchDeadline: { seconds: 24 * 3600 }, appEngineHttpRequest: { relativeUri: "/long" } }
    })
    expect(Number(task.dispatchDeadline?.seconds)).toBe(86_400)
    await expectGrpcError(
      client.createTask({ parent: queue, task: { dispatchDeadline: { seconds: 24 * 3600 + 1 }, appEngineHttpRequest: { relativeUri: "/long" } } }),
      grpc.status.INVALID_ARGUMENT,
      "Task.dispatchDeadline must be between [15s, 24h]."
    )
  })
})
