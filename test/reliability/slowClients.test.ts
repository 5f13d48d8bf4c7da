/**
 * Slow clients against the servers this package creates: the emulator's port (its front
 * door, the REST API behind it), its JWKS server, and the example worker server. A client
 * that sends nothing, one that sends its headers (or the HTTP/2 preface) a byte at a time
 * without ever going idle, and one that stops in the middle of its body are each
 * disconnected once the server's headers or request timeout passes, set small here through
 * the servers' options; the server still answers a normal request afterwards.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { join } from "node:path"
import { CloudTasksEmulator } from "../../src/CloudTasksEmulator.js"
import { dripHeaders, dripPreface, silent, slowClient, stallBody } from "../utils/slowClient.js"
import { report } from "./report.js"

const root = join(import.meta.dirname, "..", "..")
const timeouts = { headersTimeout: "300 millis", requestTimeout: "600 millis" } as const
let clients = 0
let cutOff = 0
const count = (results: ReadonlyArray<{ readonly closed: boolean }>) => {
  clients += results.length
  cutOff += results.filter(({ closed }) => closed).length
}

describe("reliability: slow clients are disconnected", () => {
  afterAll(() => report("slow clients", { servers: 3, "slow clients": clients, "cut off": cutOff }))
  it.scopedLive("the emulator's port and its JWKS server", () =>
    Effect.gen(function*() {
      const emulator = yield* Effect.acquireRelease(
        Effect.promise(() => CloudTasksEmulator.start({ ...timeouts, queues: ["projects/p/locations/l/queues/q"] })),
        (running) => Effect.promise(() => running.stop())
      )
      const jwks = Number(new URL(emulator.jwksUri).port)
      const results = yield* Effect.promise(() =>
        Promise.all([
          slowClient(emulator.port, silent),
          slowClient(emulator.port, dripPreface),
          slowClient(emulator.port, dripHeaders("/v2/projects/p/locations/l/queues")),
          slowClient(emulator.port, stallBody("/v2/projects/p/locations/l/queues/q/tasks")),
          slowClient(jwks, silent),
          slowClient(jwks, dripHeaders("/oauth2/v3/certs")),
          slowClient(jwks, stallBody("/oauth2/v3/certs"))
        ])
      )
      count(results)
      expect(results.map(({ closed }) => closed)).toEqual(results.map(() => true))
      // The drippers were cut off while still sending.
      expect(results[1]!.sent).toBeGreaterThan(1)
      expect(results[2]!.sent).toBeGreaterThan(40)
      // Still serving.
      expect((yield* Effect.promise(() => fetch(emulator.url))).status).toBe(200)
      expect((yield* Effect.promise(() => fetch(emulator.jwksUri))).status).toBe(200)
    }))

  it.scopedLive("the example worker server", () =>
    Effect.gen(function*() {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "--conditions=@effect-http-tasks/source", join("examples", "worker-server.ts")],
        {
          cwd: root,
          stdio: ["ignore", "pipe", "pipe"],
          env: { PATH: process.env.PATH ?? "", PORT: "0", HEADERS_TIMEOUT: "300 millis", REQUEST_TIMEOUT: "600 millis" }
        }
      )
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill()))
      const port = yield* Effect.promise(() =>
        new Promise<number>((resolve, reject) => {
          let output = ""
          const read = (chunk: Buffer) => {
            output += chunk.toString()
            const match = /The task server listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)
            if (match !== null) resolve(Number(match[1]))
          }
          child.stdout.on("data", read)
          child.stderr.on("data", read)
          child.on("exit", () => reject(new Error(`the worker server exited:\n${output}`)))
        })
      )
      const auth = { "X-Tasks-Auth": "a-secure-local-secret" }
      const results = yield* Effect.promise(() =>
        Promise.all([
          slowClient(port, silent),
          slowClient(port, dripHeaders("/api/tasks/transcribe")),
          slowClient(port, stallBody("/api/tasks/transcribe", auth))
        ])
      )
      count(results)
      expect(results.map(({ closed }) => closed)).toEqual([true, true, true])
      expect(results[1]!.sent).toBeGreaterThan(40)
      const answer = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/api/tasks/transcribe`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ filename: "gs://bucket/a.wav", user_id: "1" })
        })
      )
      expect(answer.status).toBe(200)
    }), { timeout: 60_000 })
})
