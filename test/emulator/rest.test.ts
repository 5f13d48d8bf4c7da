/**
 * The REST API with `curl`, on the same port as gRPC: the v2 surface at `/v2/…` in the proto3
 * JSON mapping (durations as "0.100s", bytes as base64, timestamps as RFC 3339), query
 * parameters, and Google's error format `{ error: { code, message, status, details } }`.
 * The official client in REST mode runs the whole emulator suite (the `emulator-rest` project).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "effect/FastCheck"
import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { CloudTasksClient } from "@google-cloud/tasks"
import { createRequire } from "node:module"
import { CloudTasksEmulator, type RunningCloudTasksEmulator } from "../../src/CloudTasksEmulator.js"
import { makeClient } from "../utils/emulatorClient.js"
import { startTarget, type Target } from "../utils/emulatorTarget.js"

// google-auth-library, as @google-cloud/tasks itself loads it (through google-gax).
const { PassThroughClient } = createRequire(createRequire(import.meta.url).resolve("google-gax"))(
  "google-auth-library"
) as typeof import("google-auth-library")

const LOCATION = "projects/curl-project/locations/us-central1"
const QUEUE = `${LOCATION}/queues/curl-queue`

let emulator: RunningCloudTasksEmulator
let target: Target

beforeAll(async () => {
  emulator = await CloudTasksEmulator.start()
  target = await startTarget()
})

afterAll(async () => {
  await emulator.stop()
  await target.close()
})

/** Runs curl; resolves with the HTTP status and the parsed JSON body. */
const curl = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
  const args = ["-sS", "-X", method, "-w", "\n%{http_code}", `http://${emulator.host}${path}`]
  if (body !== undefined) args.push("-H", "content-type: application/json", "-d", JSON.stringify(body))
  const { stdout } = await promisify(execFile)("curl", args, { timeout: 30_000 })
  const newline = stdout.lastIndexOf("\n")
  return { status: Number(stdout.slice(newline + 1)), json: JSON.parse(stdout.slice(0, newline)) }
}

describe("REST with curl", () => {
  it("creates a queue and a task, reads them back, and delivers the task", async () => {
    const queue = await curl("POST", `/v2/${LOCATION}/queues`, {
      name: QUEUE,
      retryConfig: { maxAttempts: 3, minBackoff: "0.1s" },
      rateLimits: { maxDispatchesPerSecond: 20 }
    })
    expect(queue.status).toBe(200)
    expect(queue.json).toMatchObject({
      name: QUEUE,
      state: "RUNNING",
      rateLimits: { maxDispatchesPerSecond: 20, maxConcurrentDispatches: 1000 },
      retryConfig: { maxAttempts: 3, minBackoff: "0.100s", maxBackoff: "3600s", maxDoublings: 16 }
    })

    await curl("POST", `/v2/${QUEUE}:pause`, {})
    const created = await curl("POST", `/v2/${QUEUE}/tasks`, {
      task: {
        name: `${QUEUE}/tasks/from-curl`,
        httpRequest: {
          url: `${target.url}/api/tasks/curl`,
          headers: { "Content-Type": "application/json" },
          body: Buffer.from('{"hello":"curl"}').toString("base64")
        }
      },
      responseView: "FULL"
    })
    expect(created.status).toBe(200)
    expect(created.json).toMatchObject({
      name: `${QUEUE}/tasks/from-curl`,
      httpRequest: { url: `${target.url}/api/tasks/curl`, httpMethod: "POST", body: "eyJoZWxsbyI6ImN1cmwifQ==" },
      dispatchDeadline: "600s",
      view: "FULL"
    })
    // RFC 3339 with whole seconds, as the service keeps createTime.
    expect(created.json.createTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.0+)?Z$/)

    const basic = await curl("GET", `/v2/${QUEUE}/tasks/from-curl`)
    expect(basic.json.view).toBe("BASIC")
    expect(basic.json.httpRequest.body).toBeUndefined()
    const full = await curl("GET", `/v2/${QUEUE}/tasks/from-curl?responseView=FULL`)
    expect(full.json.httpRequest.body).toBe("eyJoZWxsbyI6ImN1cmwifQ==")
    const listed = await curl("GET", `/v2/${QUEUE}/tasks?pageSize=10`)
    expect(listed.json.tasks.map((task: { name: string }) => task.name)).toEqual([`${QUEUE}/tasks/from-curl`])

    await curl("POST", `/v2/${QUEUE}:resume`, {})
    const [request] = await target.waitFor(1)
    expect(request!.path).toBe("/api/tasks/curl")
    expect(request!.body.toString()).toBe('{"hello":"curl"}')
  })

  it("updates a queue with PATCH and an updateMask query parameter", async () => {
    const name = `${LOCATION}/queues/patched`
    await curl("POST", `/v2/${LOCATION}/queues`, { name })
    const patched = await curl("PATCH", `/v2/${name}?updateMask=retryConfig.maxAttempts`, {
      name,
      retryConfig: { maxAttempts: 7, maxDoublings: 2 }
    })
    expect(patched.status).toBe(200)
    // Only the masked field changed.
    expect(patched.json.retryConfig).toMatchObject({ maxAttempts: 7, maxDoublings: 16 })
  })

  it("serves the same emulator to gRPC on the same port", async () => {
    const client = makeClient(emulator.host, "grpc")
    try {
      const [queues] = await client.listQueues({ parent: LOCATION })
      expect(queues.map((queue) => queue.name)).toContain(QUEUE)
    } finally {
      await client.close()
    }
  })

  it("the README's client in REST mode talks to it", async () => {
    const client = new CloudTasksClient({
      fallback: true, protocol: "http", servicePath: "127.0.0.1", port: emulator.port,
      authClient: new PassThroughClient(), // from google-auth-library: no credentials for an emulator
      universeDomain: "googleapis.com"
    })
    try {
      const [queue] = await client.getQueue({ name: QUEUE })
      expect(queue.retryConfig?.maxAttempts).toBe(3)
    } finally {
      await client.close()
    }
  })

  it("answers failures in Google's error format, with details", async () => {
    const missing = await curl("GET", `/v2/${LOCATION}/queues/missing`)
    expect(missing).toEqual({
      status: 404,
      json: {
        error: {
          code: 404,
          message: "Queue does not exist. If you just created the queue, wait at least a minute for the queue to initialize.",
          status: "NOT_FOUND",
          details: []
        }
      }
    })

    const badId = await curl("POST", `/v2/${QUEUE}/tasks`, {
      task: { name: `${QUEUE}/tasks/not valid`, httpRequest: { url: target.url } }
    })
    expect(badId.status).toBe(400)
    expect(badId.json.error).toMatchObject({
      code: 400,
      status: "INVALID_ARGUMENT",
      details: [{
        "@type": "type.googleapis.com/google.rpc.Help",
        links: [{ description: "Definition of task ID" }]
      }]
    })

    const exists = await curl("POST", `/v2/${LOCATION}/queues`, { name: QUEUE })
    expect(exists.json.error).toMatchObject({ code: 409, status: "ALREADY_EXISTS", message: "Queue already exists" })
  })

  it("refuses malformed JSON and unknown paths with a JSON error", async () => {
    const { stdout } = await promisify(execFile)("curl", [
      "-sS", "-X", "POST", "-H", "content-type: application/json", "-d", "{not json", "-w", "\n%{http_code}",
      `http://${emulator.host}/v2/${QUEUE}/tasks`
    ])
    expect(stdout.endsWith("\n400")).toBe(true)
    expect(JSON.parse(stdout.slice(0, stdout.lastIndexOf("\n"))).error.status).toBe("INVALID_ARGUMENT")
    const unknown = await curl("GET", "/v2/nothing/here")
    expect(unknown.json.error).toMatchObject({ code: 404, status: "NOT_FOUND" })
    const badEscape = await curl("GET", `/v2/${QUEUE}/tasks/%E0%A4%A`)
    expect(badEscape.json.error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT" })
    const wrongShape = await curl("POST", `/v2/${QUEUE}/tasks`, { task: { httpRequest: "not an object" } })
    expect(wrongShape.json.error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT" })
    const noTask = await curl("POST", `/${QUEUE}/tasks`, [])
    expect(noTask.json.error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT", message: "The request has no task." })
  })
})

describe("the emulator's HTTP port", () => {
  it("answers a path that starts with two slashes 404 instead of failing on it, and goes on serving", async () => {
    // new URL("//", base) throws: the handler rejected, the request hung, and without a test
    // runner's handler an unhandled rejection ends the process (the emulator command).
    for (const path of ["//", "//evil.example/v2/x", "//v2/projects"]) {
      const response = await fetch(`http://${emulator.host}${path}`, { signal: AbortSignal.timeout(5000) })
      expect(response.status).toBe(404)
    }
    expect((await fetch(`http://${emulator.host}/`, { signal: AbortSignal.timeout(5000) })).status).toBe(200)
  })
})

describe("REST and gRPC agree", () => {
  // Header names the service does not reserve (X-Google-*, X-AppEngine-*, X-CloudTasks-* are dropped).
  const headerName = fc.stringMatching(/^X-[A-Za-z0-9-]{1,20}$/).filter((name) => !/^x-(google|appengine|cloudtasks)-/i.test(name))
  const headerValue = fc.stringMatching(/^[!-~][ -~]{0,30}$/)
  const taskSpec = fc.record({
    id: fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/),
    method: fc.constantFrom("POST", "PUT", "PATCH"),
    headers: fc.dictionary(headerName, headerValue, { maxKeys: 4 }),
    body: fc.uint8Array({ maxLength: 300 }),
    path: fc.stringMatching(/^[a-z0-9/_-]{0,30}$/),
    deadlineSeconds: fc.integer({ min: 15, max: 1800 })
  })

  it.live.prop("a task created over REST reads back over gRPC exactly as created", { spec: taskSpec }, ({ spec }) =>
    Effect.promise(async () => {
      const queue = `${LOCATION}/queues/agree`
      const existing = await curl("GET", `/v2/${queue}`)
      if (existing.status === 404) {
        await curl("POST", `/v2/${LOCATION}/queues`, { name: queue })
        await curl("POST", `/v2/${queue}:pause`, {})
      }
      const name = `${queue}/tasks/${spec.id}`
      await curl("DELETE", `/v2/${name}`)
      const created = await curl("POST", `/v2/${queue}/tasks`, {
        task: {
          name,
          dispatchDeadline: `${spec.deadlineSeconds}s`,
          httpRequest: {
            url: `${target.url}/${spec.path}`,
            httpMethod: spec.method,
            headers: spec.headers,
            body: Buffer.from(spec.body).toString("base64")
          }
        }
      })
      // A name used before is taken for the dedup window: ALREADY_EXISTS, as over gRPC.
      if (created.status === 409) return
      expect(created.status).toBe(200)
      const client = makeClient(emulator.host, "grpc")
      try {
        const [task] = await client.getTask({ name, responseView: "FULL" })
        expect({
          url: task.httpRequest?.url,
          method: task.httpRequest?.httpMethod,
          headers: task.httpRequest?.headers,
          body: Buffer.from(task.httpRequest?.body as Uint8Array),
          deadline: Number(task.dispatchDeadline?.seconds)
        }).toEqual({
          url: `${target.url}/${spec.path}`,
          method: spec.method,
          headers: { ...spec.headers, "User-Agent": "Google-Cloud-Tasks" },
          body: Buffer.from(spec.body),
          deadline: spec.deadlineSeconds
        })
        expect(created.json.name).toBe(name)
      } finally {
        await client.close()
      }
    }), { fastCheck: { numRuns: 15 } })
})
