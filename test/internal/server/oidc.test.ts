/**
 * The task server's OIDC check against the emulator's real tokens and JWKS: the
 * production path (enqueue → official client → emulator → task server) succeeds, and
 * forged, expired, wrong-audience, wrong-email, foreign-key and missing tokens are
 * refused with 401 and the reason in the event, never the token.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Queue, Schema, TestClock } from "effect"
import { generateKeyPairSync, sign as cryptoSign } from "node:crypto"
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

// Equivalent mutants of src/internal/server/oidc.ts: the initial fetchFailed (the first key lookup
// always fetches), the `typeof kid` checks (a non-string kid finds no key either way), `typeof iss`
// (a non-string issuer is in no list), the `?? ""` of a missing header, the fetch error's text.
describe("makeOidcVerifier, with keys of its own", () => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
  const other = generateKeyPairSync("rsa", { modulusLength: 2048 })
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "jwk" })
  const jwk = { ...publicKey.export({ format: "jwk" }), kid: "k1", alg: "RS256", use: "sig" }
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
  const now = 1_800_000_000
  const good = { iss: "https://issuer.example", aud: "aud", exp: now + 3600, iat: now, email: "a@b.c", email_verified: true }
  const sign = (claims: object, header: object = { alg: "RS256", kid: "k1" }, key = privateKey) => {
    const signed = `${part(header)}.${part(claims)}`
    return `Bearer ${signed}.${cryptoSign("RSA-SHA256", Buffer.from(signed), key).toString("base64url")}`
  }

  /** A JWKS endpoint answering `documents` in turn (the last one from then on), counting fetches. */
  const jwksServer = (...documents: Array<{ status: number; body: unknown }>) =>
    Effect.gen(function*() {
      const state = { fetches: 0 }
      const server = createServer((_, response) => {
        const { status, body } = documents[Math.min(state.fetches, documents.length - 1)]!
        state.fetches++
        response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body))
      })
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))),
        () => Effect.sync(() => server.close())
      )
      return { state, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/certs` }
    })

  const verifier = (url: string, emails: Array<string> = []) =>
    makeOidcVerifier({ audience: "aud", emails, jwksUrl: url, issuers: ["https://issuer.example", "other-issuer"] })

  it.scoped("accepts a valid token within a minute of clock skew, and refuses each claim that is off", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now * 1000)
      const jwks = yield* jwksServer({ status: 200, body: { keys: [jwk] } })
      const verify = yield* verifier(jwks.url)
      const accepted = [
        sign(good),
        sign({ ...good, iss: "other-issuer", aud: ["x", "aud"] }),
        sign({ ...good, exp: now - 59 }),
        sign({ ...good, iat: now + 60 }),
        sign({ ...good, iat: undefined }),
        `bearer   ${sign(good).slice("Bearer ".length)}`
      ]
      for (const token of accepted) expect(yield* verify(token), token).toBe("a@b.c")
      // An unverified email is no email; nor is one that is not a string. An iat that is no number is ignored.
      expect(yield* verify(sign({ ...good, email_verified: "true" }))).toBe("")
      expect(yield* verify(sign({ ...good, email: 5 }))).toBe("")
      expect(yield* verify(sign({ ...good, iat: String(now + 3600) }))).toBe("a@b.c")
      const refused: ReadonlyArray<[string | undefined, string]> = [
        [undefined, "missing"],
        ["Basic abc", "missing"],
        [`Bearer ${sign(good).slice("Bearer ".length)} x`, "missing"],
        ["Bearer a.b", "malformed"],
        [`NotBearer ${sign(good).slice("Bearer ".length)}`, "missing"],
        [`Bearer ${part({ alg: "RS256", kid: "k1" })}.${part(good)}`, "malformed"],
        ["Bearer a.b.c.d", "malformed"],
        [`Bearer ${part(null)}.${part({})}.x`, "malformed"],
        [`Bearer ${part({ alg: "RS256" })}.${part(null)}.x`, "malformed"],
        [`Bearer ${part({ alg: "RS256" })}.${part(7)}.x`, "malformed"],
        [`Bearer ${part(7)}.${part({})}.x`, "malformed"],
        [sign(good, { alg: "HS256", kid: "k1" }), "unsupported_algorithm"],
        [sign(good, { alg: "RS256", kid: 1 }), "unknown_key"],
        [sign(good, { alg: "RS256", kid: "k2" }), "unknown_key"],
        [sign(good, { alg: "RS256", kid: "k1" }, other.privateKey), "bad_signature"],
        [sign({ ...good, iss: "https://elsewhere.example" }), "wrong_issuer"],
        [sign({ ...good, iss: 1 }), "wrong_issuer"],
        [sign({ ...good, aud: "other" }), "wrong_audience"],
        [sign({ ...good, aud: ["other"] }), "wrong_audience"],
        [sign({ ...good, exp: now - 60 }), "expired"],
        [sign({ ...good, exp: String(now + 3600) }), "expired"],
        [sign({ ...good, iat: now + 61 }), "not_yet_valid"]
      ]
      for (const [token, expected] of refused) expect(yield* Effect.flip(verify(token)), token).toBe(expected)
      const allowList = yield* verifier(jwks.url, ["a@b.c"])
      expect(yield* allowList(sign(good))).toBe("a@b.c")
      expect(yield* Effect.flip(allowList(sign({ ...good, email: "x@b.c" })))).toBe("email_not_allowed")
      expect(yield* Effect.flip(allowList(sign({ ...good, email_verified: false })))).toBe("email_not_allowed")
    }))

  it.scoped("keys that cannot be fetched are unavailable until a fetch 10 s later succeeds; unusable keys are skipped", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now * 1000)
      const jwks = yield* jwksServer(
        { status: 500, body: {} },
        {
          status: 200,
          body: {
            keys: [
              { kty: "EC", kid: "k1" },
              { ...jwk, kid: 5 },
              { kty: "RSA", kid: "broken", n: "x" },
              { ...jwk, kid: "k3" },
              jwk,
              // Not RSA: skipped, even under a key ID an RSA key has.
              { ...ec, kid: "k1" }
            ]
          }
        }
      )
      const verify = yield* verifier(jwks.url)
      expect(yield* Effect.flip(verify(sign(good)))).toBe("keys_unavailable")
      yield* TestClock.adjust("9999 millis")
      expect(yield* Effect.flip(verify(sign(good)))).toBe("keys_unavailable")
      expect(jwks.state.fetches).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(yield* verify(sign(good))).toBe("a@b.c")
      expect(yield* verify(sign(good, { alg: "RS256", kid: "k3" }))).toBe("a@b.c")
      expect(jwks.state.fetches).toBe(2)
      // Known keys need no fetch; an unknown one within 10 s of the last fetch is refused without one.
      expect(yield* Effect.flip(verify(sign(good, { alg: "RS256", kid: "broken" })))).toBe("unknown_key")
      expect(jwks.state.fetches).toBe(2)
    }))

  it.scopedLive("the task server answers each refused token 401 and tells the operator why, in words", () => {
    const { layer: logLayer, logs } = captureLogs()
    return Effect.gen(function*() {
      const jwks = yield* jwksServer({ status: 200, body: { keys: [jwk] } })
      const server = yield* startTaskServer(taskHandlersLayer(handleTask(Ping, () => Effect.void)), {
        config: {
          appEnv: "test",
          oidcAudience: "aud",
          oidcIssuer: "https://issuer.example",
          oidcServiceAccounts: ["a@b.c"],
          oidcJwksUrl: jwks.url
        }
      })
      // Against the real clock: the server's is not the test's.
      const seconds = Math.floor(Date.now() / 1000)
      const live = { ...good, iat: seconds, exp: seconds + 3600 }
      expect((yield* server.post(Ping.path, { n: 1 }, { authorization: sign(live) })).status).toBe(200)
      const refused: ReadonlyArray<[string, string]> = [
        [sign(live, { alg: "RS256", kid: "k1" }, other.privateKey), "with an OIDC token whose signature does not verify"],
        [sign({ ...live, iss: "https://elsewhere.example" }), "with an OIDC token from another issuer"],
        [sign({ ...live, aud: "other" }), "with an OIDC token for another audience"],
        [sign({ ...live, exp: seconds - 3600 }), "with an expired OIDC token"],
        [sign({ ...live, iat: seconds + 3600 }), "with an OIDC token issued in the future"],
        [sign({ ...live, email: "x@b.c" }), "with an OIDC token of a service account not allowed"]
      ]
      for (const [token] of refused) expect((yield* server.post(Ping.path, { n: 1 }, { authorization: token })).status).toBe(401)
      expect(logs.of(Events.serverUnauthorized).map((entry) => [entry.level, entry.message])).toEqual(
        refused.map(([, words]) => ["WARN", `Refused a task request ${words}`])
      )
    }).pipe(Effect.provide(logLayer))
  })

  it.scoped("a JWKS document without a key list holds no keys", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now * 1000)
      for (const body of [{}, null, { keys: "k1" }]) {
        const jwks = yield* jwksServer({ status: 200, body })
        expect(yield* Effect.flip((yield* verifier(jwks.url))(sign(good))), JSON.stringify(body)).toBe("unknown_key")
      }
    }))
})
