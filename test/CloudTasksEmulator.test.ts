/**
 * Running the emulator: `CloudTasksEmulator.start` and `stop`, the scoped layer, the queues and
 * settings given at start, the observation API, and the `effect-http-tasks emulator` command,
 * including a clean shutdown (the process exits on its own, mid-delivery).
 *
 * API behaviour and delivery are covered in test/emulator/*.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as http from "node:http"
import { type AddressInfo, createServer } from "node:net"
import { fileURLToPath } from "node:url"
import { CloudTasksEmulator, CloudTasksEmulatorError } from "../src/CloudTasksEmulator.js"
import { defineQueue } from "../src/index.js"
import { makeClient } from "./utils/emulatorClient.js"
import { startTarget, type Target } from "./utils/emulatorTarget.js"

const QUEUE = "projects/p/locations/l/queues/q"
const root = fileURLToPath(new URL("..", import.meta.url))

let target: Target

beforeAll(async () => {
  target = await startTarget()
})

afterAll(async () => {
  await target.close()
})

/** A free TCP port on 127.0.0.1. */
const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

/**
 * Runs `node --import tsx <args>` in the package root, with `env` as its environment when
 * given; resolves with exit code and output.
 */
const runNode = (
  args: ReadonlyArray<string>,
  onStdout?: (text: string, child: ReturnType<typeof spawn>) => void,
  env?: Readonly<Record<string, string>>
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> =>
  new Promise((resolve) => {
    const started = Date.now()
    const child = spawn(process.execPath, ["--import", "tsx", ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      ...(env === undefined ? {} : { env: { PATH: process.env.PATH ?? "", ...env } })
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
      onStdout?.(stdout, child)
    })
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("close", (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }))
  })

describe("CloudTasksEmulator.start", () => {
  it("serves the official client at 127.0.0.1:<port> with the queues given, then stops", async () => {
    const emulator = await CloudTasksEmulator.start({ queues: [QUEUE] })
    expect(emulator.host).toBe(`127.0.0.1:${emulator.port}`)
    expect(emulator.port).toBeGreaterThan(0)
    const client = makeClient(emulator.host)
    try {
      const [queue] = await client.getQueue({ name: QUEUE })
      expect(queue).toMatchObject({ name: QUEUE, state: "RUNNING", rateLimits: { maxDispatchesPerSecond: 500 } })
      const [task] = await client.createTask({ parent: QUEUE, task: { httpRequest: { url: `${target.url}/hello`, body: Buffer.from("hi") } } })
      expect(task.name).toMatch(/^projects\/p\/locations\/l\/queues\/q\/tasks\/\d+$/)
      const outcome = await emulator.waitForTask(task.name!)
      expect(outcome).toMatchObject({ task: task.name, queue: QUEUE, result: "succeeded" })
      expect(emulator.attempts({ queue: QUEUE })).toHaveLength(1)
      expect(emulator.attempts({ queue: QUEUE })[0]).toMatchObject({
        task: task.name,
        url: `${target.url}/hello`,
        method: "POST",
        status: 200,
        succeeded: true,
        attempt: 1
      })
    } finally {
      await client.close()
      await emulator.stop()
    }
    await emulator.stop() // idempotent
  })

  it("listens on the port asked for, which is free again after stop", async () => {
    const port = await freePort()
    const first = await CloudTasksEmulator.start({ port })
    expect(first.host).toBe(`127.0.0.1:${port}`)
    await first.stop()
    const second = await CloudTasksEmulator.start({ port })
    expect(second.port).toBe(port)
    await second.stop()
  })

  it("fails with CloudTasksEmulatorError StartFailed when the port is taken", async () => {
    const running = await CloudTasksEmulator.start()
    try {
      const error = await CloudTasksEmulator.start({ port: running.port }).then(() => undefined, (e: unknown) => e)
      expect(error).toBeInstanceOf(CloudTasksEmulatorError)
      expect(error).toMatchObject({ _tag: "CloudTasksEmulatorError", reason: "StartFailed" })
      expect((error as CloudTasksEmulatorError).message).toContain(`127.0.0.1:${running.port}`)
    } finally {
      await running.stop()
    }
  })

  it("applies queueSettings to the queues created at start", async () => {
    const emulator = await CloudTasksEmulator.start({
      queues: [QUEUE],
      queueSettings: { maxDispatchesPerSecond: 5, maxAttempts: 3, minBackoff: "50 millis", maxBackoff: "2 seconds" }
    })
    const client = makeClient(emulator.host)
    try {
      const [queue] = await client.getQueue({ name: QUEUE })
      expect(queue.rateLimits?.maxDispatchesPerSecond).toBe(5)
      expect(queue.retryConfig).toMatchObject({ maxAttempts: 3, minBackoff: { nanos: 50_000_000 }, maxBackoff: { seconds: "2" } })
    } finally {
      await client.close()
      await emulator.stop()
    }
  })

  it("creates the queues given as definitions in project and location, with the settings they define", async () => {
    const Transcription = defineQueue("transcription", {
      maxAttempts: 5,
      minBackoff: "10 seconds",
      maxBackoff: "10 minutes",
      maxDoublings: 3,
      maxRetryDuration: "1 hour"
    })
    const Email = defineQueue("email", { maxDispatchesPerSecond: 20, maxConcurrentDispatches: 4 })
    const emulator = await CloudTasksEmulator.start({
      project: "p",
      location: "l",
      queues: [Transcription, Email, QUEUE],
      queueSettings: { maxAttempts: 3 }
    })
    const client = makeClient(emulator.host)
    try {
      const [queues] = await client.listQueues({ parent: "projects/p/locations/l" })
      expect(queues.map((queue) => queue.name).sort()).toEqual([
        "projects/p/locations/l/queues/email",
        "projects/p/locations/l/queues/q",
        "projects/p/locations/l/queues/transcription"
      ])
      const [transcription] = await client.getQueue({ name: "projects/p/locations/l/queues/transcription" })
      expect(transcription.retryConfig).toMatchObject({
        maxAttempts: 5,
        minBackoff: { seconds: "10" },
        maxBackoff: { seconds: "600" },
        maxDoublings: 3,
        maxRetryDuration: { seconds: "3600" }
      })
      const [email] = await client.getQueue({ name: "projects/p/locations/l/queues/email" })
      expect(email.rateLimits).toMatchObject({ maxDispatchesPerSecond: 20, maxConcurrentDispatches: 4 })
      // queueSettings still apply where a definition sets nothing of its own.
      expect(email.retryConfig?.maxAttempts).toBe(3)
      const [plain] = await client.getQueue({ name: QUEUE })
      expect(plain.retryConfig?.maxAttempts).toBe(3)
    } finally {
      await client.close()
      await emulator.stop()
    }
  })

  it("refuses, as InvalidOptions, a definition Cloud Tasks would refuse or one without project and location", async () => {
    const invalid = await CloudTasksEmulator.start({
      project: "p",
      location: "l",
      queues: [defineQueue("fast", { maxDispatchesPerSecond: 501 })]
    }).then(() => undefined, (e: unknown) => e)
    expect(invalid).toMatchObject({ _tag: "CloudTasksEmulatorError", reason: "InvalidOptions" })
    expect((invalid as Error).message).toContain(`Queue "fast": maxDispatchesPerSecond must be more than 0 and at most 500, got 501`)
    const nowhere = await CloudTasksEmulator.start({ queues: [defineQueue("email")] }).then(() => undefined, (e: unknown) => e)
    expect(nowhere).toMatchObject({ _tag: "CloudTasksEmulatorError", reason: "InvalidOptions" })
    expect((nowhere as Error).message).toContain("queues given as definitions need the options project and location")
  })

  it("refuses a malformed queue name in options.queues", async () => {
    const error = await CloudTasksEmulator.start({ queues: ["not-a-queue"] }).then(() => undefined, (e: unknown) => e)
    expect(error).toMatchObject({ _tag: "CloudTasksEmulatorError", reason: "StartFailed" })
    expect((error as Error).message).toContain("Queue name must be formatted")
  })

  it("waitForAttempts fails with a clear message on timeout, and pending waits fail on stop", async () => {
    const emulator = await CloudTasksEmulator.start({ queues: [QUEUE] })
    await expect(emulator.waitForAttempts(1, { timeout: "50 millis" })).rejects.toThrow(
      "Timed out after 50 ms: waiting for 1 delivery attempt(s), saw 0"
    )
    const pending = emulator.waitForTask(`${QUEUE}/tasks/never`, { timeout: "1 minute" })
    await emulator.stop()
    await expect(pending).rejects.toThrow("The Cloud Tasks emulator stopped")
  })

  it("waitForTask's timeout says that every attempt was refused, and why", async () => {
    const emulator = await CloudTasksEmulator.start({ queues: [QUEUE], queueSettings: { minBackoff: "10 millis", maxBackoff: "20 millis" } })
    const client = makeClient(emulator.host)
    try {
      const [task] = await client.createTask({ parent: QUEUE, task: { httpRequest: { url: "http://127.0.0.1:9/refused" } } })
      await emulator.waitForAttempts(2, { task: task.name! })
      const error = await emulator.waitForTask(task.name!, { timeout: "1 millis" }).then(() => undefined, (e: Error) => e)
      expect(error?.message).toMatch(/^Timed out after 1 ms: waiting for task .* to finish \(\d+ attempts, every one failed: UNAVAILABLE: .*ECONNREFUSED/)
    } finally {
      await client.close()
      await emulator.stop()
    }
  })
})

layer(CloudTasksEmulator.layer({ queues: [QUEUE] }))("CloudTasksEmulator.layer", (it) => {
  it.effect("provides the running emulator as a service", () =>
    Effect.gen(function*() {
      const emulator = yield* CloudTasksEmulator
      expect(emulator.host).toBe(`127.0.0.1:${emulator.port}`)
      const [queue] = yield* Effect.acquireUseRelease(
        Effect.sync(() => makeClient(emulator.host)),
        (client) => Effect.promise(() => client.getQueue({ name: QUEUE })),
        (client) => Effect.promise(() => client.close())
      )
      expect(queue.name).toBe(QUEUE)
    }))
})

describe("CloudTasksEmulator.layer scope", () => {
  it.effect("stops the emulator when the scope closes", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const host = yield* Effect.scoped(
        Effect.map(Effect.provide(CloudTasksEmulator, Layer_scoped(port)), (emulator) => emulator.host)
      )
      expect(host).toBe(`127.0.0.1:${port}`)
      // The port is free again: a new emulator can take it.
      const again = yield* Effect.promise(() => CloudTasksEmulator.start({ port }))
      yield* Effect.promise(() => again.stop())
    }))
})

const Layer_scoped = (port: number) => CloudTasksEmulator.layer({ port })

describe("effect-http-tasks emulator (bin)", () => {
  it("prints the host line, serves the queues given, and on SIGINT stops cleanly mid-delivery and exits 0", async () => {
    // A target that never answers: its request is still in flight when the signal comes.
    const hanging = http.createServer((request) => request.resume())
    await new Promise<void>((resolve) => hanging.listen(0, "127.0.0.1", resolve))
    const hangingUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`
    let host: string | undefined
    let signalledAt = 0
    let latest = ""
    try {
      const result = await runNode(
        ["src/bin.ts", "emulator", "--port", "0", "--queue", QUEUE, "--queue", `${QUEUE}-2`],
        (stdout, child) => {
          latest = stdout
          const match = /CLOUD_TASKS_EMULATOR_HOST=(127\.0\.0\.1:\d+)/.exec(stdout)
          if (match !== null && host === undefined && stdout.includes(`queue: ${QUEUE}-2`)) {
            host = match[1]!
            const client = makeClient(host)
            void (async () => {
              const [queue] = await client.getQueue({ name: `${QUEUE}-2` })
              expect(queue.name).toBe(`${QUEUE}-2`)
              // The same port serves the dashboard and REST.
              expect(await fetch(`http://${host}/`).then((response) => response.text())).toContain("<title>Cloud Tasks emulator</title>")
              const rest = await fetch(`http://${host}/v2/${QUEUE}-2`).then((response) => response.json() as Promise<{ name: string }>)
              expect(rest.name).toBe(`${QUEUE}-2`)
              // Work in every state: in flight, waiting on a retry backoff, due in an hour.
              await client.createTask({ parent: QUEUE, task: { httpRequest: { url: `${hangingUrl}/hang` } } })
              await client.createTask({ parent: QUEUE, task: { httpRequest: { url: "http://127.0.0.1:9/refused" } } })
              await client.createTask({
                parent: QUEUE,
                task: { scheduleTime: { seconds: Math.floor(Date.now() / 1000) + 3600 }, httpRequest: { url: `${hangingUrl}/later` } }
              })
              await client.close()
            })().finally(() => {
              const waitForAttemptLine = setInterval(() => {
                if (/attempt 1 POST http:\/\/127\.0\.0\.1:9\/refused/.test(latest)) {
                  clearInterval(waitForAttemptLine)
                  signalledAt = Date.now()
                  child.kill("SIGINT")
                }
              }, 10)
            })
          }
        }
      )
      expect(host).toMatch(/^127\.0\.0\.1:\d+$/)
      expect(result.stdout).toContain(`Dashboard: http://${host}/  REST: http://${host}/v2/`)
      expect(result.stdout).toContain("error=\"UNAVAILABLE")
      expect(result.stdout).toContain("Cloud Tasks emulator stopped")
      expect(result.stderr).toBe("")
      expect(result.code).toBe(0)
      // Nothing kept the process alive after the signal.
      expect(Date.now() - signalledAt).toBeLessThan(5_000)
    } finally {
      hanging.closeAllConnections()
      hanging.close()
    }
  }, 30_000)

  it("--from creates the queues a module defines, with their settings, and TASKS_QUEUE, where the environment says", async () => {
    const env = { GOOGLE_CLOUD_PROJECT: "p", TASKS_LOCATION: "l", TASKS_QUEUE: "default" }
    const names = ["transcription", "email", "default"].map((id) => `projects/p/locations/l/queues/${id}`)
    let checked: Promise<void> | undefined
    const result = await runNode(["src/bin.ts", "emulator", "--port", "0", "--from", "test/fixtures/queues.ts"], (stdout, child) => {
      const host = /CLOUD_TASKS_EMULATOR_HOST=(127\.0\.0\.1:\d+)/.exec(stdout)?.[1]
      if (host === undefined || checked !== undefined || !stdout.includes(`queue: ${names[2]}\n`)) return
      checked = (async () => {
        const client = makeClient(host)
        try {
          const [queues] = await client.listQueues({ parent: "projects/p/locations/l" })
          expect(queues.map((queue) => queue.name).sort()).toEqual([...names].sort())
          const [transcription] = await client.getQueue({ name: names[0]! })
          expect(transcription.retryConfig).toMatchObject({ maxAttempts: 5, minBackoff: { seconds: "10" } })
          const [email] = await client.getQueue({ name: names[1]! })
          expect(email.rateLimits?.maxDispatchesPerSecond).toBe(20)
          const [fallback] = await client.getQueue({ name: names[2]! })
          expect(fallback.retryConfig?.maxAttempts).toBe(100)
        } finally {
          await client.close()
          child.kill("SIGINT")
        }
      })()
    }, env)
    await checked
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    for (const name of names) expect(result.stdout).toContain(`queue: ${name}\n`)

    const nowhere = await runNode(["src/bin.ts", "emulator", "--from", "test/fixtures/queues.ts"], undefined, {})
    expect(nowhere.code).toBe(2)
    expect(nowhere.stderr).toContain("emulator --from needs GOOGLE_CLOUD_PROJECT and TASKS_LOCATION")
  }, 30_000)

  it("exits 2 with the usage on stderr for an unknown command or flag", async () => {
    const unknown = await runNode(["src/bin.ts", "emulate"])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('Unknown command "emulate"')
    expect(unknown.stderr).toContain("Usage: effect-http-tasks")
    const badFlag = await runNode(["src/bin.ts", "emulator", "--prot", "1"])
    expect(badFlag.code).toBe(2)
    expect(badFlag.stderr).toContain("Usage: effect-http-tasks")
    const badTarget = await runNode(["src/bin.ts", "emulator", "--app-engine-target", "localhost:8080"])
    expect(badTarget.code).toBe(2)
    expect(badTarget.stderr).toContain('--app-engine-target must be an http(s) URL, got "localhost:8080"')
  }, 30_000)
})
