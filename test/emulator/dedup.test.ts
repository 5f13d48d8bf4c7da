/**
 * Named-task deduplication: a name stays taken while the task lives and for the dedup window
 * after it ran or was deleted (tombstone). A property test checks arbitrary interleavings of
 * create / delete / run / get (and jumps past the window) against a small reference model.
 */
import type { CloudTasksClient } from "@google-cloud/tasks"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "effect/FastCheck"
import { CloudTasksEmulator, type RunningCloudTasksEmulator } from "../../src/CloudTasksEmulator.js"
import { createQueue, expectGrpcError } from "../utils/emulator.js"
import { apiErrorOf, grpc, makeClient } from "../utils/emulatorClient.js"
import { startTarget, type Target } from "../utils/emulatorTarget.js"

const NOT_FOUND = "Requested entity was not found."
const EXISTED_RECENTLY =
  "The task no longer exists, though a task with this name existed recently. The task either successfully completed or was deleted."

let target: Target

beforeAll(async () => {
  target = await startTarget()
})

afterAll(async () => {
  await target.close()
})

describe("dedup window", () => {
  let emulator: RunningCloudTasksEmulator
  let client: CloudTasksClient
  /** How far the emulator's clock is ahead of the system's: a test jumps past the window. */
  let offset = 0
  const jumpPastTheWindow = () => {
    offset += 3_600_000 + 1000
  }

  beforeAll(async () => {
    emulator = await CloudTasksEmulator.start({ clock: () => Date.now() + offset })
    client = makeClient(emulator.host)
  })

  afterAll(async () => {
    await client.close()
    await emulator.stop()
  })

  it("keeps a deleted task's name taken for the window, then frees it", async () => {
    const queue = await createQueue(client)
    await client.pauseQueue({ name: queue })
    const name = `${queue}/tasks/invoice-42`
    const task = { name, httpRequest: { url: `${target.url}/x` } }
    await client.createTask({ parent: queue, task })
    await client.deleteTask({ name })
    await expectGrpcError(client.createTask({ parent: queue, task }), grpc.status.ALREADY_EXISTS, "Requested entity already exists")
    await expectGrpcError(client.getTask({ name }), grpc.status.NOT_FOUND, EXISTED_RECENTLY)
    jumpPastTheWindow()
    await expectGrpcError(client.getTask({ name }), grpc.status.NOT_FOUND, NOT_FOUND)
    const [again] = await client.createTask({ parent: queue, task })
    expect(again.name).toBe(name)
  })

  it("keeps a completed task's name taken for the window, then frees it", async () => {
    const queue = await createQueue(client)
    const name = `${queue}/tasks/welcome-mail-7`
    const task = { name, httpRequest: { url: `${target.url}/x` } }
    await client.createTask({ parent: queue, task })
    await emulator.waitForTask(name)
    await expectGrpcError(client.createTask({ parent: queue, task }), grpc.status.ALREADY_EXISTS, "Requested entity already exists")
    jumpPastTheWindow()
    await client.createTask({ parent: queue, task })
    const outcome = await emulator.waitForAttempts(2, { task: name })
    expect(outcome).toHaveLength(2)
  })
})

// -------------------------------------------------------------------------------------------
// Property: the emulator agrees with a reference model of the dedup rules.

type Op =
  | { readonly op: "create" | "delete" | "run" | "get"; readonly id: number }
  | { readonly op: "advance" }

type Slot = "absent" | "live" | "tombstone"

type Expected = { readonly ok: true } | { readonly code: number; readonly details: string }

/** The rules: a name is taken while live and while its tombstone lasts; advancing past the window clears tombstones. */
const model = (slots: Array<Slot>, op: Op): Expected => {
  const ok = { ok: true } as const
  const missing = (slot: Slot): Expected =>
    slot === "tombstone"
      ? { code: grpc.status.NOT_FOUND, details: EXISTED_RECENTLY }
      : { code: grpc.status.NOT_FOUND, details: NOT_FOUND }
  if (op.op === "advance") {
    slots.forEach((slot, i) => (slots[i] = slot === "tombstone" ? "absent" : slot))
    return ok
  }
  const slot = slots[op.id]!
  switch (op.op) {
    case "create":
      if (slot !== "absent") return { code: grpc.status.ALREADY_EXISTS, details: "Requested entity already exists" }
      slots[op.id] = "live"
      return ok
    case "delete":
    case "run":
      if (slot !== "live") return missing(slot)
      slots[op.id] = "tombstone"
      return ok
    case "get":
      return slot === "live" ? ok : missing(slot)
  }
}

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constantFrom<"create" | "delete" | "run" | "get">("create", "delete", "run", "get"), id: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: "advance" } as const) }
)

describe("dedup rules (property)", () => {
  const WINDOW_MS = 3_600_000
  let offset = 0
  let emulator: RunningCloudTasksEmulator
  let client: CloudTasksClient

  beforeAll(async () => {
    // The default one-hour window; "advance" jumps the emulator's clock past it.
    emulator = await CloudTasksEmulator.start({ clock: () => Date.now() + offset })
    client = makeClient(emulator.host)
  })

  afterAll(async () => {
    await client.close()
    await emulator.stop()
  })

  const apply = async (queue: string, op: Op): Promise<Expected> => {
    if (op.op === "advance") {
      offset += WINDOW_MS + 1000
      return { ok: true }
    }
    const name = `${queue}/tasks/id-${op.id}`
    const call = async () => {
      switch (op.op) {
        case "create":
          return client.createTask({ parent: queue, task: { name, httpRequest: { url: `${target.url}/p` } } })
        case "delete":
          return client.deleteTask({ name })
        case "get":
          return client.getTask({ name })
        case "run": {
          const before = emulator.attempts({ task: name }).length
          const result = await client.runTask({ name })
          await emulator.waitForAttempts(before + 1, { task: name })
          return result
        }
      }
    }
    return call().then(
      () => ({ ok: true }),
      (error: unknown) => {
        const { code, message } = apiErrorOf(error)
        return { code, details: message }
      }
    )
  }

  it.live.prop(
    "create/delete/run/get on named tasks agree with the model",
    { ops: fc.array(opArbitrary, { minLength: 1, maxLength: 14 }) },
    ({ ops }) =>
      Effect.promise(async () => {
        // A paused queue: tasks run only when RunTask says so.
        const queue = await createQueue(client)
        await client.pauseQueue({ name: queue })
        const slots: Array<Slot> = ["absent", "absent", "absent"]
        for (const op of ops) {
          const expected = model(slots, op)
          expect({ op, result: await apply(queue, op) }).toEqual({ op, result: expected })
        }
      }),
    { timeout: 30_000, fastCheck: { numRuns: 40 } }
  )
})
