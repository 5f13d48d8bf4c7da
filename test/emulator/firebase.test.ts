/**
 * firebase-admin pointed at the emulator: `getFunctions().taskQueue(…).enqueue()` and
 * `.delete()` post to the Firebase emulator's task path on the emulator's port (REST, no `/v2`).
 * firebase-admin reads `CLOUD_TASKS_EMULATOR_HOST` from the environment, so it runs in a child
 * process with that variable set (this process's environment is left alone).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { CloudTasksEmulator, type RunningCloudTasksEmulator } from "../../src/CloudTasksEmulator.js"
import { header, startTarget, type Target } from "../utils/emulatorTarget.js"

const PROJECT = "demo-firebase"
const FUNCTION = "sendWelcomeEmail"
const QUEUE = `projects/${PROJECT}/locations/us-central1/queues/${FUNCTION}`
const script = fileURLToPath(new URL("../fixtures/firebase-task-queue.mjs", import.meta.url))

let emulator: RunningCloudTasksEmulator
let functions: Target
let elsewhere: Target
let calls: ReadonlyArray<{ readonly call: string; readonly ok: boolean; readonly code?: string }>

beforeAll(async () => {
  functions = await startTarget()
  elsewhere = await startTarget()
  emulator = await CloudTasksEmulator.start({
    queues: [QUEUE],
    firebaseTarget: (queue) => `${functions.url}/${queue.slice(queue.lastIndexOf("/") + 1)}`
  })
  const { stdout } = await promisify(execFile)(process.execPath, [script, PROJECT, FUNCTION, `${elsewhere.url}/direct`], {
    env: { ...process.env, CLOUD_TASKS_EMULATOR_HOST: emulator.host },
    timeout: 60_000
  })
  calls = stdout.trim().split("\n").map((line) => JSON.parse(line) as (typeof calls)[number])
})

afterAll(async () => {
  await emulator.stop()
  await functions.close()
  await elsewhere.close()
})

const outcome = (call: string) => calls.find((entry) => entry.call === call)

describe("firebase-admin's task queue", () => {
  it("enqueue creates a task that goes to the configured target, with the data as firebase-admin wraps it", async () => {
    expect(outcome("enqueue")).toEqual({ call: "enqueue", ok: true })
    const done = await emulator.waitForTask(`${QUEUE}/tasks/welcome-1`)
    expect(done.result).toBe("succeeded")
    const request = functions.requests.find((r) => r.path === `/${FUNCTION}`)!
    expect(request.method).toBe("POST")
    expect(JSON.parse(request.body.toString())).toEqual({ data: { to: "ada@example.com" } })
    expect(header(request, "content-type")).toBe("application/json")
    expect(header(request, "X-CloudTasks-TaskName")).toBe("welcome-1")
    expect(header(request, "X-CloudTasks-QueueName")).toBe(FUNCTION)
    // firebase-admin asks for an OIDC token of its service account: the emulator signs one.
    expect(header(request, "Authorization")).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/)
  })

  it("a second enqueue with the same ID is firebase-admin's task-already-exists", () => {
    expect(outcome("enqueue-again")).toMatchObject({ ok: false, code: "functions/task-already-exists" })
  })

  it("a task with a uri goes to that uri", async () => {
    expect(outcome("enqueue-uri")).toEqual({ call: "enqueue-uri", ok: true })
    const [request] = await elsewhere.waitFor(1)
    expect(request!.path).toBe("/direct")
    expect(JSON.parse(request!.body.toString())).toEqual({ data: { to: "bob@example.com" } })
  })

  it("delete removes a scheduled task before it runs; deleting a missing task is ignored, as firebase-admin does", async () => {
    expect(outcome("enqueue-later")).toEqual({ call: "enqueue-later", ok: true })
    expect(outcome("delete")).toEqual({ call: "delete", ok: true })
    expect(outcome("delete-missing")).toEqual({ call: "delete-missing", ok: true })
    const deleted = await emulator.waitForTask(`${QUEUE}/tasks/later`)
    expect(deleted).toMatchObject({ result: "deleted", attempts: [] })
  })
})
