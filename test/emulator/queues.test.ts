/**
 * Queue and task management through the official client: list pagination, UpdateQueue (with
 * and without a field mask), DeleteQueue, IAM stubs.
 */
import type { CloudTasksClient } from "@google-cloud/tasks"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { CloudTasksEmulator, type RunningCloudTasksEmulator } from "../../src/CloudTasksEmulator.js"
import { createQueue, expectGrpcError, LOCATION, uniqueQueueName } from "../utils/emulator.js"
import { apiErrorOf, grpc, makeClient } from "../utils/emulatorClient.js"

let emulator: RunningCloudTasksEmulator
let client: CloudTasksClient

beforeAll(async () => {
  emulator = await CloudTasksEmulator.start()
  client = makeClient(emulator.host)
})

afterAll(async () => {
  await client.close()
  await emulator.stop()
})

describe("ListQueues", () => {
  it("pages through the queues of a location with page tokens", async () => {
    const location = "projects/paging-project/locations/europe-west1"
    const names = Array.from({ length: 7 }, (_, i) => `${location}/queues/q-${i}`)
    for (const name of names) await client.createQueue({ parent: location, queue: { name } })
    await client.createQueue({ parent: "projects/paging-project/locations/us-east1", queue: { name: "projects/paging-project/locations/us-east1/queues/elsewhere" } })

    const [first, , firstResponse] = await client.listQueues({ parent: location, pageSize: 3 }, { autoPaginate: false })
    expect(first.map((queue) => queue.name)).toEqual(names.slice(0, 3))
    expect(firstResponse?.nextPageToken).toBeTruthy()
    const [second, , secondResponse] = await client.listQueues(
      { parent: location, pageSize: 3, pageToken: firstResponse!.nextPageToken! },
      { autoPaginate: false }
    )
    expect(second.map((queue) => queue.name)).toEqual(names.slice(3, 6))
    const [third, , thirdResponse] = await client.listQueues(
      { parent: location, pageSize: 3, pageToken: secondResponse!.nextPageToken! },
      { autoPaginate: false }
    )
    expect(third.map((queue) => queue.name)).toEqual(names.slice(6))
    expect(thirdResponse?.nextPageToken ?? "").toBe("")

    // The client's async iterator walks every page.
    const all: Array<string> = []
    for await (const queue of client.listQueuesAsync({ parent: location, pageSize: 2 }, { autoPaginate: false })) all.push(queue.name!)
    expect(all).toEqual(names)
  })

  it("refuses a page token it did not issue", async () => {
    const error = await client.listQueues({ parent: LOCATION, pageToken: "garbage!" }, { autoPaginate: false })
      .then(() => undefined, apiErrorOf)
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT)
  })
})

describe("ListTasks", () => {
  it("pages through a queue's tasks, and the async iterator sees them all", async () => {
    const queue = await createQueue(client)
    await client.pauseQueue({ name: queue })
    const ids = Array.from({ length: 5 }, (_, i) => `task-${i}`)
    for (const id of ids) {
      await client.createTask({ parent: queue, task: { name: `${queue}/tasks/${id}`, httpRequest: { url: "http://127.0.0.1:9/x" } } })
    }
    const [page, , response] = await client.listTasks({ parent: queue, pageSize: 2 }, { autoPaginate: false })
    expect(page.map((task) => task.name)).toEqual(ids.slice(0, 2).map((id) => `${queue}/tasks/${id}`))
    expect(response?.nextPageToken).toBeTruthy()
    const seen: Array<string> = []
    for await (const task of client.listTasksAsync({ parent: queue, pageSize: 2 }, { autoPaginate: false })) seen.push(task.name!)
    expect(seen).toEqual(ids.map((id) => `${queue}/tasks/${id}`))
  })
})

describe("CreateTask bursts", () => {
  it("accepts 200 concurrent CreateTask calls over one channel", async () => {
    const queue = await createQueue(client)
    await client.pauseQueue({ name: queue })
    const created = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        client.createTask({ parent: queue, task: { name: `${queue}/tasks/burst-${i}`, httpRequest: { url: "http://127.0.0.1:9/x" } } })
      )
    )
    expect(new Set(created.map(([task]) => task.name)).size).toBe(200)
    const listed: Array<string> = []
    for await (const task of client.listTasksAsync({ parent: queue }, { autoPaginate: false })) listed.push(task.name!)
    expect(listed).toHaveLength(200)
  })
})

describe("UpdateQueue", () => {
  it("updates only the masked fields", async () => {
    const queue = await createQueue(client, undefined, { rateLimits: { maxDispatchesPerSecond: 100 } })
    const [updated] = await client.updateQueue({
      queue: { name: queue, rateLimits: { maxConcurrentDispatches: 7, maxDispatchesPerSecond: 1 }, retryConfig: { maxAttempts: 9 } },
      updateMask: { paths: ["rate_limits.max_concurrent_dispatches", "retry_config.max_attempts"] }
    })
    expect(updated.rateLimits).toMatchObject({ maxConcurrentDispatches: 7, maxDispatchesPerSecond: 100 })
    expect(updated.retryConfig?.maxAttempts).toBe(9)
    const [fetched] = await client.getQueue({ name: queue })
    expect(fetched.rateLimits?.maxConcurrentDispatches).toBe(7)
  })

  it("without a mask updates the fields given", async () => {
    const queue = await createQueue(client)
    const [updated] = await client.updateQueue({
      queue: { name: queue, retryConfig: { minBackoff: { seconds: 2 }, maxBackoff: { seconds: 20 }, maxDoublings: 4 } }
    })
    expect(updated.retryConfig).toMatchObject({ minBackoff: { seconds: "2" }, maxBackoff: { seconds: "20" }, maxDoublings: 4 })
  })

  it("creates a queue that does not exist", async () => {
    const name = uniqueQueueName("upserted")
    await client.updateQueue({ queue: { name, rateLimits: { maxDispatchesPerSecond: 3 } } })
    const [queue] = await client.getQueue({ name })
    expect(queue.rateLimits?.maxDispatchesPerSecond).toBe(3)
  })

  it("refuses out-of-range settings", async () => {
    const queue = await createQueue(client)
    await expectGrpcError(
      client.updateQueue({ queue: { name: queue, rateLimits: { maxDispatchesPerSecond: 501 } } }),
      grpc.status.INVALID_ARGUMENT,
      "RateLimits.maxDispatchesPerSecond must be less than or equal to 500."
    )
    await expectGrpcError(
      client.updateQueue({ queue: { name: queue, retryConfig: { minBackoff: { seconds: 10 }, maxBackoff: { seconds: 1 } } } }),
      grpc.status.INVALID_ARGUMENT,
      "RetryConfig.minBackoff must be less than or equal to RetryConfig.maxBackoff."
    )
  })
})

describe("DeleteQueue", () => {
  it("removes the queue and its tasks from listings", async () => {
    const location = "projects/delete-project/locations/l"
    const name = `${location}/queues/doomed`
    await client.createQueue({ parent: location, queue: { name } })
    await client.pauseQueue({ name })
    await client.createTask({ parent: name, task: { httpRequest: { url: "http://127.0.0.1:9/x" } } })
    await client.deleteQueue({ name })
    const [queues] = await client.listQueues({ parent: location })
    expect(queues).toEqual([])
  })
})

describe("IAM", () => {
  it("stores and returns a queue's policy; all permissions are granted", async () => {
    const queue = await createQueue(client)
    const policy = { bindings: [{ role: "roles/cloudtasks.enqueuer", members: ["user:a@example.com"] }] }
    await client.setIamPolicy({ resource: queue, policy })
    const [fetched] = await client.getIamPolicy({ resource: queue })
    expect(fetched.bindings).toMatchObject(policy.bindings)
    const [tested] = await client.testIamPermissions({ resource: queue, permissions: ["cloudtasks.tasks.create"] })
    expect(tested.permissions).toEqual(["cloudtasks.tasks.create"])
  })
})
