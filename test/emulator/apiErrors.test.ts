/**
 * Every status code and message of facts/cloud-tasks.md ("Errors the API returns" and
 * "Limits"), through the official client over real gRPC.
 */
import type { CloudTasksClient } from "@google-cloud/tasks"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { CloudTasksEmulator, type RunningCloudTasksEmulator } from "../../src/CloudTasksEmulator.js"
import { MAX_TASK_BYTES } from "../../src/internal/limits.js"
import { createQueue, expectGrpcError, LOCATION, uniqueQueueName } from "../utils/emulator.js"
import { apiErrorOf, grpc, makeClient } from "../utils/emulatorClient.js"
import { startTarget, type Target } from "../utils/emulatorTarget.js"

const QUEUE_NOT_FOUND =
  "Queue does not exist. If you just created the queue, wait at least a minute for the queue to initialize."
const NOT_FOUND = "Requested entity was not found."
const EXISTED_RECENTLY =
  "The task no longer exists, though a task with this name existed recently. The task either successfully completed or was deleted."

let emulator: RunningCloudTasksEmulator
let client: CloudTasksClient
let target: Target

beforeAll(async () => {
  emulator = await CloudTasksEmulator.start()
  client = makeClient(emulator.host)
  target = await startTarget()
})

afterAll(async () => {
  await client.close()
  await emulator.stop()
  await target.close()
})

const httpTask = (name?: string) => ({
  ...(name === undefined ? {} : { name }),
  httpRequest: { url: `${target.url}/task`, body: Buffer.from("{}") }
})

/** A queue that never dispatches on its own (paused), so its tasks stay until the test acts. */
const pausedQueue = async (): Promise<string> => {
  const queue = await createQueue(client)
  await client.pauseQueue({ name: queue })
  return queue
}

describe("CreateTask", () => {
  it("refuses an ID that exists: ALREADY_EXISTS", async () => {
    const queue = await pausedQueue()
    await client.createTask({ parent: queue, task: httpTask(`${queue}/tasks/order-1`) })
    await expectGrpcError(
      client.createTask({ parent: queue, task: httpTask(`${queue}/tasks/order-1`) }),
      grpc.status.ALREADY_EXISTS,
      "Requested entity already exists"
    )
  })

  it("refuses an ID that existed recently (deleted): ALREADY_EXISTS", async () => {
    const queue = await pausedQueue()
    await client.createTask({ parent: queue, task: httpTask(`${queue}/tasks/order-2`) })
    await client.deleteTask({ name: `${queue}/tasks/order-2` })
    await expectGrpcError(
      client.createTask({ parent: queue, task: httpTask(`${queue}/tasks/order-2`) }),
      grpc.status.ALREADY_EXISTS,
      "Requested entity already exists"
    )
  })

  it("refuses an ID that existed recently (ran): ALREADY_EXISTS", async () => {
    const queue = await createQueue(client)
    const name = `${queue}/tasks/order-3`
    await client.createTask({ parent: queue, task: httpTask(name) })
    expect((await emulator.waitForTask(name)).result).toBe("succeeded")
    await expectGrpcError(
      client.createTask({ parent: queue, task: httpTask(name) }),
      grpc.status.ALREADY_EXISTS,
      "Requested entity already exists"
    )
  })

  it.each(["not a valid id", "a/b", "ünïcode", "x".repeat(501)])("refuses the invalid ID %j: INVALID_ARGUMENT", async (id) => {
    const queue = await pausedQueue()
    await expectGrpcError(
      client.createTask({ parent: queue, task: httpTask(`${queue}/tasks/${id}`) }),
      grpc.status.INVALID_ARGUMENT,
      `Task ID "${id}" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens (-), or underscores (_). Task ID must between 1 and 500 characters.`
    )
  })

  it("accepts IDs of letters, digits, - and _, up to 500 characters", async () => {
    const queue = await pausedQueue()
    const id = "Ab-9_".repeat(100)
    const [task] = await client.createTask({ parent: queue, task: httpTask(`${queue}/tasks/${id}`) })
    expect(task.name).toBe(`${queue}/tasks/${id}`)
  })

  it("refuses a task named in another queue than the request's parent: INVALID_ARGUMENT", async () => {
    const queue = await pausedQueue()
    const other = `${queue}-other`
    await expectGrpcError(
      client.createTask({ parent: queue, task: httpTask(`${other}/tasks/t1`) }),
      grpc.status.INVALID_ARGUMENT,
      `The queue name from request ('${queue}') must be the same as the queue name in the named task ('${other}').`
    )
  })

  it("refuses a task bigger than 1 MB (the stored task proto): INVALID_ARGUMENT", async () => {
    const queue = await pausedQueue()
    // The body alone is the limit: with name, URL, times and headers the stored task is over it.
    await expectGrpcError(
      client.createTask({
        parent: queue,
        task: { httpRequest: { url: `${target.url}/big`, body: Buffer.alloc(MAX_TASK_BYTES, 97) } }
      }),
      grpc.status.INVALID_ARGUMENT,
      "Task size too large"
    )
    // Just under the limit (the stored task keeps ~200 bytes of overhead) is accepted whole.
    const body = Buffer.alloc(MAX_TASK_BYTES - 400, 98)
    const [task] = await client.createTask({
      parent: queue,
      task: { httpRequest: { url: `${target.url}/big`, body } },
      responseView: "FULL"
    })
    expect(Buffer.from(task.httpRequest!.body as Uint8Array).equals(body)).toBe(true)
  })

  it("refuses a scheduleTime more than 30 days ahead: INVALID_ARGUMENT", async () => {
    const queue = await pausedQueue()
    const seconds = Math.floor(Date.now() / 1000) + 31 * 24 * 3600
    const error = await client.createTask({ parent: queue, task: { ...httpTask(), scheduleTime: { seconds } } })
      .then(() => undefined, apiErrorOf)
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT)
    expect(error?.message).toMatch(/^The Task\.scheduleTime, .*, is too far in the future\. Schedule time must be no more than 720h in the future\.$/)
    const [task] = await client.createTask({
      parent: queue,
      task: { ...httpTask(), scheduleTime: { seconds: Math.floor(Date.now() / 1000) + 29 * 24 * 3600 } }
    })
    expect(Number(task.scheduleTime?.seconds)).toBeGreaterThan(Date.now() / 1000 + 28 * 24 * 3600)
  })

  it.each([{ seconds: 14 }, { seconds: 1801 }])("refuses the dispatchDeadline %j: INVALID_ARGUMENT", async (deadline) => {
    const queue = await pausedQueue()
    await expectGrpcError(
      client.createTask({ parent: queue, task: { ...httpTask(), dispatchDeadline: deadline } }),
      grpc.status.INVALID_ARGUMENT,
      "Task.dispatchDeadline must be between [15s, 30m]."
    )
  })

  it("stores the default dispatchDeadline of 10 minutes and accepts 15 s to 30 min", async () => {
    const queue = await pausedQueue()
    const [defaulted] = await client.createTask({ parent: queue, task: httpTask() })
    expect(Number(defaulted.dispatchDeadline?.seconds)).toBe(600)
    for (const seconds of [15, 1800]) {
      const [task] = await client.createTask({ parent: queue, task: { ...httpTask(), dispatchDeadline: { seconds } } })
      expect(Number(task.dispatchDeadline?.seconds)).toBe(seconds)
    }
  })

  it("refuses a body on a GET: only POST, PUT and PATCH carry one", async () => {
    const queue = await pausedQueue()
    const error = await client.createTask({
      parent: queue,
      task: { httpRequest: { url: `${target.url}/get`, httpMethod: "GET", body: Buffer.from("x") } }
    }).then(() => undefined, apiErrorOf)
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT)
    const [put] = await client.createTask({
      parent: queue,
      task: { httpRequest: { url: `${target.url}/put`, httpMethod: "PUT", body: Buffer.from("x") } }
    })
    expect(put.httpRequest?.httpMethod).toBe("PUT")
  })

  it("refuses request headers of 80 KB or more", async () => {
    const queue = await pausedQueue()
    const error = await client.createTask({
      parent: queue,
      task: { httpRequest: { url: `${target.url}/h`, headers: { "X-Big": "x".repeat(80 * 1024) } } }
    }).then(() => undefined, apiErrorOf)
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT)
  })

  it("computes Host and Content-Length itself and drops reserved X-Google-* / X-AppEngine-* headers", async () => {
    const queue = await pausedQueue()
    const [task] = await client.createTask({
      parent: queue,
      task: {
        httpRequest: {
          url: `${target.url}/h`,
          headers: { Host: "evil.example", "Content-Length": "99", "X-Google-Secret": "1", "X-AppEngine-Foo": "2", "X-Kept": "3" }
        }
      }
    })
    expect(task.httpRequest?.headers).toEqual({ "X-Kept": "3", "User-Agent": "Google-Cloud-Tasks" })
  })
})

describe("queues that do not exist", () => {
  const missing = () => uniqueQueueName("missing")
  const calls: ReadonlyArray<[string, (name: string) => Promise<unknown>]> = [
    ["GetQueue", (name) => client.getQueue({ name })],
    ["PauseQueue", (name) => client.pauseQueue({ name })],
    ["ResumeQueue", (name) => client.resumeQueue({ name })],
    ["PurgeQueue", (name) => client.purgeQueue({ name })],
    ["CreateTask", (name) => client.createTask({ parent: name, task: httpTask() })],
    ["ListTasks", (name) => client.listTasks({ parent: name })],
    ["GetTask", (name) => client.getTask({ name: `${name}/tasks/t` })]
  ]

  it.each(calls)("%s: NOT_FOUND with the queue message", async (_, call) => {
    await expectGrpcError(call(missing()), grpc.status.NOT_FOUND, QUEUE_NOT_FOUND)
  })

  it.each(calls)("%s on a queue just deleted: NOT_FOUND with the queue message", async (_, call) => {
    const queue = await createQueue(client)
    await client.deleteQueue({ name: queue })
    await expectGrpcError(call(queue), grpc.status.NOT_FOUND, QUEUE_NOT_FOUND)
  })

  it("DeleteQueue: NOT_FOUND, Requested entity was not found.", async () => {
    await expectGrpcError(client.deleteQueue({ name: missing() }), grpc.status.NOT_FOUND, NOT_FOUND)
  })
})

describe("tasks that do not exist", () => {
  it("GetTask, DeleteTask and RunTask on a task that never existed: NOT_FOUND, Requested entity was not found.", async () => {
    const queue = await pausedQueue()
    const name = `${queue}/tasks/never`
    await expectGrpcError(client.getTask({ name }), grpc.status.NOT_FOUND, NOT_FOUND)
    await expectGrpcError(client.deleteTask({ name }), grpc.status.NOT_FOUND, NOT_FOUND)
    await expectGrpcError(client.runTask({ name }), grpc.status.NOT_FOUND, NOT_FOUND)
  })

  it("GetTask on a task deleted recently: NOT_FOUND, existed recently", async () => {
    const queue = await pausedQueue()
    const [task] = await client.createTask({ parent: queue, task: httpTask() })
    await client.deleteTask({ name: task.name! })
    await expectGrpcError(client.getTask({ name: task.name! }), grpc.status.NOT_FOUND, EXISTED_RECENTLY)
  })

  it("GetTask on a task that ran recently: NOT_FOUND, existed recently", async () => {
    const queue = await createQueue(client)
    const [task] = await client.createTask({ parent: queue, task: httpTask() })
    await emulator.waitForTask(task.name!)
    await expectGrpcError(client.getTask({ name: task.name! }), grpc.status.NOT_FOUND, EXISTED_RECENTLY)
  })
})

describe("CreateQueue", () => {
  it("on an existing queue: ALREADY_EXISTS, Queue already exists", async () => {
    const queue = await createQueue(client)
    await expectGrpcError(
      client.createQueue({ parent: LOCATION, queue: { name: queue } }),
      grpc.status.ALREADY_EXISTS,
      "Queue already exists"
    )
  })

  it("on a name deleted recently: FAILED_PRECONDITION", async () => {
    const queue = await createQueue(client)
    await client.deleteQueue({ name: queue })
    await expectGrpcError(
      client.createQueue({ parent: LOCATION, queue: { name: queue } }),
      grpc.status.FAILED_PRECONDITION,
      "The queue cannot be created because a queue with this name existed too recently."
    )
  })

  it.each(["q", `${LOCATION}/queues/has_underscore`, `${LOCATION}/queues/`, "projects/p/queues/q"])(
    "with the malformed name %j: INVALID_ARGUMENT",
    async (name) => {
      await expectGrpcError(
        client.createQueue({ parent: LOCATION, queue: { name } }),
        grpc.status.INVALID_ARGUMENT,
        `Queue name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/queues/<QUEUE_ID>".`
      )
    }
  )

  it("with the Cloud Tasks defaults when no settings are given", async () => {
    const name = uniqueQueueName()
    const [queue] = await client.createQueue({ parent: LOCATION, queue: { name } })
    expect(queue.state).toBe("RUNNING")
    expect(queue.rateLimits).toMatchObject({ maxDispatchesPerSecond: 500, maxConcurrentDispatches: 1000 })
    expect(queue.retryConfig).toMatchObject({
      maxAttempts: 100,
      minBackoff: { seconds: "0", nanos: 100_000_000 },
      maxBackoff: { seconds: "3600" },
      maxDoublings: 16
    })
  })
})
