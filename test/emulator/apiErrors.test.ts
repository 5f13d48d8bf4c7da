/**
 * Every status code and message the real Cloud Tasks API was recorded answering (its errors
 * and limits), through the official client over real gRPC.
 */
import type { CloudTasksClient } from "@google-cloud/tasks"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { CloudTasksEmulator, type RunningCloudTasksEmulator } from "../../src/CloudTasksEmulator.js"
import { MAX_TASK_BYTES } from "../../src/internal/limits.js"
import { createQueue, expectGrpcError, LOCATION, uniqueQueueName } from "../utils/emulator.js"
import { apiErrorOf, clientMode, grpc, makeClient, statusDetailsOf } from "../utils/emulatorClient.js"
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

  it("a deleted queue's name is still taken 6 days later and free again after 7, as in Cloud Tasks", async () => {
    const offset = { ms: 0 }
    const clocked = await CloudTasksEmulator.start({ clock: () => Date.now() + offset.ms })
    const clockedClient = makeClient(clocked.host)
    try {
      const queue = await createQueue(clockedClient)
      await clockedClient.deleteQueue({ name: queue })
      offset.ms = 6 * 24 * 3_600_000
      await expectGrpcError(
        createQueue(clockedClient, queue),
        grpc.status.FAILED_PRECONDITION,
        "The queue cannot be created because a queue with this name existed too recently."
      )
      offset.ms = 7 * 24 * 3_600_000 + 60_000
      expect(await createQueue(clockedClient, queue)).toBe(queue)
    } finally {
      await clockedClient.close()
      await clocked.stop()
    }
  })

  it.each(["q", `${LOCATION}/queues/has_underscore`, `${LOCATION}/queues/`, "projects/p/queues/q", `x${LOCATION}/queues/q`])(
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

describe("error details, as recorded from the real service", () => {
  const failure = (promise: Promise<unknown>) => promise.then(() => expect.unreachable("the call succeeded"), (e: unknown) => e)
  const REFERENCE = "https://cloud.google.com/tasks/docs/reference/rest/v2"

  it("a malformed queue name carries a Help link to the definition of a queue name", async () => {
    const error = await failure(client.createQueue({ parent: LOCATION, queue: { name: "not-a-valid-queue-name" } }))
    expect(apiErrorOf(error).code).toBe(grpc.status.INVALID_ARGUMENT)
    expect(statusDetailsOf(error)).toEqual([{
      type: "google.rpc.Help",
      links: [{ description: "Definition of queue name", url: `${REFERENCE}/projects.locations.queues#Queue.FIELDS.name` }]
    }])
  })

  it("an invalid task ID carries a Help link to the definition of a task ID", async () => {
    const queue = await pausedQueue()
    const error = await failure(client.createTask({ parent: queue, task: httpTask(`${queue}/tasks/not a valid id`) }))
    expect(apiErrorOf(error).code).toBe(grpc.status.INVALID_ARGUMENT)
    expect(statusDetailsOf(error)).toEqual([{
      type: "google.rpc.Help",
      links: [{ description: "Definition of task ID", url: `${REFERENCE}/projects.locations.queues.tasks#Task.FIELDS.name` }]
    }])
  })

  // Over REST the parent is part of the URL's template: the official client refuses to build
  // such a request, so only gRPC can send it.
  const grpcOnly = it.skipIf(clientMode() === "rest")

  grpcOnly("a parent that is not projects/*/locations/* is PERMISSION_DENIED with ErrorInfo, LocalizedMessage and Help", async () => {
    const message = "Permission denied on resource project not-a-valid-parent."
    const error = await failure(client.createQueue({ parent: "not-a-valid-parent", queue: { name: uniqueQueueName() } }))
    expect(apiErrorOf(error)).toEqual({ code: grpc.status.PERMISSION_DENIED, message })
    expect(statusDetailsOf(error)).toEqual([
      {
        type: "google.rpc.ErrorInfo",
        reason: "CONSUMER_INVALID",
        domain: "googleapis.com",
        metadata: {
          consumer: "projects/not-a-valid-parent",
          containerInfo: "not-a-valid-parent",
          service: "cloudtasks.googleapis.com"
        }
      },
      { type: "google.rpc.LocalizedMessage", locale: "en-US", message },
      { type: "google.rpc.Help", links: [{ description: "Google developers console", url: "https://console.developers.google.com" }] }
    ])
  })

  grpcOnly("ListQueues under a malformed parent is PERMISSION_DENIED too", async () => {
    await expectGrpcError(
      client.listQueues({ parent: "not-a-valid-parent" }),
      grpc.status.PERMISSION_DENIED,
      "Permission denied on resource project not-a-valid-parent."
    )
    // A location's name with something before or after it is not a location's name.
    for (const parent of [`x${LOCATION}`, `${LOCATION}/queues`]) {
      expect(apiErrorOf(await failure(client.listQueues({ parent }))).code, parent).toBe(grpc.status.PERMISSION_DENIED)
    }
  })

  it("errors without details carry none", async () => {
    const error = await failure(client.getQueue({ name: uniqueQueueName("missing") }))
    expect(statusDetailsOf(error)).toEqual([])
  })
})

describe("recorded create times and sizes", () => {
  it("createTime has whole-second precision", async () => {
    const queue = await pausedQueue()
    const [created] = await client.createTask({ parent: queue, task: httpTask() })
    expect(created.createTime?.nanos ?? 0).toBe(0)
    expect(Number(created.createTime?.seconds)).toBeGreaterThan(Date.now() / 1000 - 60)
    const [fetched] = await client.getTask({ name: created.name! })
    expect(fetched.createTime).toEqual(created.createTime)
  })

  it("a small HTTP task takes a body of 1,048,368 bytes and refuses 1,048,369, whatever the millisecond of creation", async () => {
    // The task: a generated 20-digit ID in this queue, a URL, name and URL of 126 characters
    // together, the default deadline and a scheduleTime with nanos. The recorded boundary holds
    // only with createTime in whole seconds (milliseconds would take 6 more bytes).
    const queue = await createQueue(client, `${LOCATION}/queues/recorded-sizes`)
    await client.pauseQueue({ name: queue })
    const url = `http://127.0.0.1:9/${"u".repeat(126 - `${queue}/tasks/`.length - 20 - "http://127.0.0.1:9/".length)}`
    const scheduleTime = { seconds: Math.floor(Date.now() / 1000) + 3600, nanos: 500_000_000 }
    const create = (bytes: number) =>
      client.createTask({ parent: queue, task: { scheduleTime, httpRequest: { url, body: Buffer.alloc(bytes, 97) } } })
    for (let i = 0; i < 3; i++) {
      const [accepted] = await create(1_048_368)
      expect(accepted.name).toMatch(/\/tasks\/\d{20}$/)
      await expectGrpcError(create(1_048_369), grpc.status.INVALID_ARGUMENT, "Task size too large")
    }
  })
})
