/**
 * The task server's OIDC check against the emulator's real tokens and JWKS: the
 * production path (enqueue → official client → emulator → task server) succeeds, and
 * forged, expired, wrong-audience, wrong-email, foreign-key and missing tokens are
 * refused with 401 and the reason in the event, never the token.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Queue, Schema, TestClock } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { CloudTasksEmulator } from "../../../src/CloudTasksEmulator.js"
import { defineTask, enqueueHttpTask, Events, handleTask, TasksClient, taskHandlersLayer } from "../../../src/index.js"
import { makeOidcVerifier } from "../../../src/internal/server/oidc.js"
import { recordingServer } from "../../utils/httpServer.js"
import { captureLogs } from "../../utils/logs.js"
import { startTaskServer } from "../../utils/server.js"

const queue = "projects/demo/locations/us-central1/queues/oidc"
const account = "tasks@demo.iam.gserviceaccount.com"
const audience = "https://api.example.com/tasks"
const Ping = defineTask("/api/tasks/ping", Schema.Struct({ n: Schema.Number }))

/** An emulator whose wall clock starts `offsetMs` behind (it never goes back once moved forward). */
const startEmulator = (offset: { ms: number }) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      CloudTasksEmulator.start({ queues: [queue], queueSettings: { maxAttempts: 1 }, clock: () => Date.now() + offset.ms })
    ),
    (running) => Effect.promise(() => running.stop())
  )

/** Enqueues one task through the library in production to `urlBase`, signed for `email` and `aud`. */
const enqueueSigned = (host: string, urlBase: string, email: string, aud: string) =>
  enqueueHttpTask(Ping.path, { n: 1 }).pipe(
    Effect.provide(TasksClient.layerWith({
      appEnv: "production",
      project: "demo",
      location: "us-central1",
      queue: "oidc",
      urlBase,
      emulatorHost: host,
      serviceAccountEmail: email,
      oidcAudience: aud
    }))
  )

describe("TaskServer: OIDC tokens", () => {
  it.scopedLive("accepts the emulator's token end to end; refuses forged, expired, foreign and missing ones", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const offset = { ms: -2 * 3_600_000 }
      const emulator = yield* startEmulator(offset)
      const other = yield* startEmulator({ ms: 0 })
      const received = yield* Queue.unbounded<number>()
      const server = yield* startTaskServer(taskHandlersLayer(handleTask(Ping, ({ n }) => Queue.offer(received, n))), {
        config: { appEnv: "test", oidcAudience: audience, oidcServiceAccounts: [account], oidcJwksUrl: emulator.jwksUri }
      })
      const tokens = yield* recordingServer()
      /** The Authorization header the emulator sends for a task signed for `email` and `aud`. */
      const tokenFrom = (running: typeof emulator, email: string, aud: string) =>
        Effect.gen(function*() {
          const before = tokens.requests.length
          yield* enqueueSigned(running.host, tokens.url, email, aud)
          yield* tokens.received(before + 1)
          return String(tokens.requests[before]!.headers.authorization)
        })

      // Issued two hours ago by the emulator's clock: expired an hour ago.
      const expired = yield* tokenFrom(emulator, account, audience)
      offset.ms = 0
      const valid = yield* tokenFrom(emulator, account, audience)
      const [header, claims] = valid.slice("Bearer ".length).split(".")
      const tampered = `Bearer ${header}.${
        Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(claims!, "base64url").toString()), email: "x@y.z" }))
          .toString("base64url")
      }.${valid.split(".")[2]}`
      const unsigned = `Bearer ${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${claims}.`
      const refused = {
        missing: undefined,
        malformed: "Bearer not-a-jwt",
        bad_signature: tampered,
        unsupported_algorithm: unsigned,
        expired,
        wrong_audience: yield* tokenFrom(emulator, account, "https://elsewhere.example.com"),
        email_not_allowed: yield* tokenFrom(emulator, "intruder@demo.iam.gserviceaccount.com", audience),
        unknown_key: yield* tokenFrom(other, account, audience)
      }
      for (const [reason, token] of Object.entries(refused)) {
        const response = yield* server.post(Ping.path, { n: 0 }, token === undefined ? {} : { authorization: token })
        expect(response.status, reason).toBe(401)
        expect(logs.of(Events.serverUnauthorized).pop()?.annotations.reason).toBe(`oidc_${reason}`)
      }
      expect(yield* Queue.size(received)).toBe(0)

      // The production path: the emulator delivers to the task server, which verifies and runs the task.
      const info = yield* enqueueSigned(emulator.host, server.url, account, audience)
      const outcome = yield* Effect.promise(() => emulator.waitForTask(info.name))
      expect(outcome.result).toBe("succeeded")
      expect(outcome.attempts.map((attempt) => attempt.status)).toEqual([200])
      expect(yield* Queue.take(received)).toBe(1)
      // No token ever reaches a log line.
      const lines = logs.entries.map((entry) => entry.line).join("\n")
      for (const token of [valid, expired, tampered]) expect(lines).not.toContain(token.slice("Bearer ".length))
    }).pipe(Effect.provide(logLayer))
  })
})

describe("OIDC keys", () => {
  it.scoped("are fetched once, and again for an unknown key ID at most every 10 seconds", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.now())
      const first = yield* startEmulator({ ms: 0 })
      const second = yield* startEmulator({ ms: 0 })
      const tokens = yield* recordingServer()
      // A JWKS endpoint that serves the first emulator's keys, then both emulators'.
      let fetches = 0
      let rotated = false
      const keysOf = (uri: string) => fetch(uri).then((response) => response.json() as Promise<{ keys: Array<unknown> }>)
      const jwks = createServer((_, response) => {
        fetches++
        void Promise.all([keysOf(first.jwksUri), keysOf(second.jwksUri)]).then(([a, b]) =>
          response.end(JSON.stringify({ keys: rotated ? [...a.keys, ...b.keys] : a.keys }))
        )
      })
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve))),
        () => Effect.sync(() => jwks.close())
      )
      const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/certs`
      const verify = yield* makeOidcVerifier({ audience, emails: [], jwksUrl, issuers: [first.issuer] })
      const tokenFrom = (running: typeof first) =>
        Effect.gen(function*() {
          const before = tokens.requests.length
          yield* enqueueSigned(running.host, tokens.url, account, audience)
          yield* Effect.promise(() => running.waitForAttempts(1, { queue }))
          return String(tokens.requests[before]!.headers.authorization)
        })
      const a = yield* tokenFrom(first)
      const b = yield* tokenFrom(second)

      expect(yield* verify(a)).toBe(account)
      expect(yield* verify(a)).toBe(account)
      expect(fetches).toBe(1)
      rotated = true
      // A new key shortly after a fetch: not fetched again yet.
      expect(yield* Effect.flip(verify(b))).toBe("unknown_key")
      expect(fetches).toBe(1)
      yield* TestClock.adjust("10 seconds")
      expect(yield* verify(b)).toBe(account)
      expect(fetches).toBe(2)
    }))
})
