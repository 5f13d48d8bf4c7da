/**
 * The task server under generated hostile and broken requests over raw sockets: bad
 * JSON, deep nesting, huge numbers, prototype keys, wrong types and methods, header
 * tricks, bodies around the 1 MB limit with and without a length, chunked, slow and cut
 * short. Invariants: no 5xx for bad input, no crash, no secret or payload value echoed,
 * no inherited field reaching a handler, memory bounded, and the server still answers a
 * valid task correctly afterwards.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Queue, Schema } from "effect"
import * as net from "node:net"
import { defineTask, handleTask, taskHandlersLayer } from "../../src/index.js"
import { MAX_TASK_BYTES } from "../../src/internal/limits.js"
import { startTaskServer } from "../utils/server.js"
import { report, size } from "./report.js"

const secret = "s3cret-reliability-4242"
/** Planted in payload values: never to be seen in an answer. */
const marker = "PRIVATE-VALUE-7f3a"
const Transcribe = defineTask(
  "/api/tasks/transcribe",
  Schema.Struct(
    { filename: Schema.String, user_id: Schema.String },
    Schema.Record({ key: Schema.String, value: Schema.Unknown })
  )
)

type Framing = "length" | "chunked" | "slow" | "short" | "cut"

interface Spec {
  readonly method: string
  readonly path: string
  readonly auth: "right" | "wrong" | "missing" | "twice" | "huge"
  readonly contentType: string | undefined
  readonly body: Buffer
  readonly framing: Framing
  readonly extra: ReadonlyArray<readonly [string, string]>
}

const valid = JSON.stringify({ filename: marker, user_id: marker })
const nest = (depth: number, open: string, close: string) => open.repeat(depth) + "1" + close.repeat(depth)
const around = (bytes: number) => {
  const filler = Math.max(0, bytes - JSON.stringify({ filename: "a", user_id: "b", pad: "" }).length)
  return JSON.stringify({ filename: "a", user_id: "b", pad: "x".repeat(filler) })
}

const body = fc.oneof(
  fc.constant(valid),
  fc.constant(valid.slice(0, 20)),
  fc.integer({ min: 1000, max: 30_000 }).map((depth) => nest(depth, "[", "]")),
  fc.integer({ min: 1000, max: 30_000 }).map((depth) => nest(depth, `{"a":`, "}")),
  fc.constantFrom(`{"filename":1e400,"user_id":-0}`, `{"filename":${"9".repeat(5000)},"user_id":"b"}`),
  fc.constantFrom(
    `{"filename":"a","user_id":"b","__proto__":{"role":"admin"}}`,
    `{"filename":"a","user_id":"b","\\u005f_proto__":{"role":"admin"}}`,
    `{"filename":"a","user_id":"b","constructor":{"prototype":{"role":"admin"}}}`
  ),
  fc.constantFrom(`{"filename":null,"user_id":["${marker}"]}`, `[]`, `null`, `"${marker}"`, `{}`),
  fc.integer({ min: -16, max: 16 }).map((delta) => around(MAX_TASK_BYTES + delta)),
  fc.constant(""),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString("latin1"))
).map((text) => Buffer.from(text, "latin1"))

const spec: fc.Arbitrary<Spec> = fc.record({
  method: fc.constantFrom("POST", "POST", "POST", "POST", "GET", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"),
  path: fc.oneof(
    fc.constant(Transcribe.path),
    fc.constant(Transcribe.path),
    fc.constant(Transcribe.path),
    fc.constant(Transcribe.path),
    fc.constantFrom(`${Transcribe.path}/`, `/API/tasks/transcribe`, `/api/tasks/transcrib%65`, `//api/tasks/transcribe`),
    fc.constantFrom("/", "/api/tasks/unknown", `/${"a".repeat(4000)}`, "/%zz", "/api/tasks/transcribe?x=1")
  ),
  auth: fc.constantFrom("right", "right", "right", "right", "right", "wrong", "missing", "twice", "huge"),
  contentType: fc.constantFrom("application/json", "application/json; charset=utf-8", "text/plain", undefined),
  body,
  framing: fc.constantFrom<Framing>("length", "length", "chunked", "slow", "short", "cut"),
  extra: fc.constantFrom<ReadonlyArray<readonly [string, string]>>(
    [],
    [],
    [["Expect", "100-continue"]],
    [["X-CloudTasks-TaskRetryCount", "-1"], ["X-CloudTasks-TaskETA", "not-a-time"]],
    [["Prefer", "respond-async"]],
    [["traceparent", "00-zz-zz-zz"]],
    [["X-Forwarded-For", "127.0.0.1"], ["Connection", "keep-alive, Upgrade"]]
  )
})

/** A task the server should run: POST, the right secret, the exact path, a valid body sent whole. */
const isValidTask = (spec: Spec): boolean => {
  if (spec.method !== "POST" || spec.auth !== "right" || spec.path !== Transcribe.path) return false
  if (spec.framing === "short" || spec.framing === "cut" || spec.body.length > MAX_TASK_BYTES) return false
  try {
    const value = JSON.parse(spec.body.toString("latin1")) as { filename?: unknown; user_id?: unknown } | null
    return typeof value?.filename === "string" && typeof value.user_id === "string"
  } catch {
    return false
  }
}

/** Sends one request as `spec` says and reads until the server closes; at most `timeoutMs`. */
const send = (url: string, spec: Spec, timeoutMs = 10_000): Promise<{ readonly status: number; readonly text: string }> =>
  new Promise((resolve) => {
    const { hostname, port } = new URL(url)
    const socket = net.connect(Number(port), hostname)
    let text = ""
    // The last status line: an interim 100 Continue may come first.
    const done = () => {
      const statuses = Array.from(text.matchAll(/(?:^|\r\n)HTTP\/1\.1 (\d{3})/g), (match) => Number(match[1]))
      resolve({ status: statuses.filter((status) => status >= 200).pop() ?? statuses.pop() ?? 0, text })
    }
    const timer = setTimeout(() => socket.destroy(), timeoutMs)
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")))
    socket.on("error", () => {})
    socket.on("close", () => {
      clearTimeout(timer)
      done()
    })
    socket.on("connect", () => {
      const auth = spec.auth === "right"
        ? [["X-Tasks-Auth", secret]]
        : spec.auth === "wrong"
        ? [["X-Tasks-Auth", "nope"]]
        : spec.auth === "twice"
        ? [["X-Tasks-Auth", "nope"], ["X-Tasks-Auth", secret]]
        : spec.auth === "huge"
        ? [["X-Tasks-Auth", "x".repeat(32 * 1024)]]
        : []
      const framing = spec.framing === "chunked" || spec.framing === "slow"
        ? [["Transfer-Encoding", "chunked"]]
        : [["Content-Length", String(spec.body.length + (spec.framing === "short" ? 100 : 0))]]
      const headers = [
        ["Host", "127.0.0.1"],
        ["Connection", "close"],
        ...auth,
        ...(spec.contentType === undefined ? [] : [["Content-Type", spec.contentType]]),
        ...framing,
        ...spec.extra
      ]
      socket.write(`${spec.method} ${spec.path} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`)
      const body = spec.body
      if (spec.framing === "length") return void socket.write(body)
      // 100 bytes fewer than announced, then the end of the connection: a body cut short.
      if (spec.framing === "short") return void socket.end(body)
      if (spec.framing === "cut") return void socket.end(body.subarray(0, Math.floor(body.length / 2)))
      const pieces = Math.min(8, Math.max(1, body.length))
      const step = Math.ceil(body.length / pieces)
      let offset = 0
      const next = () => {
        if (socket.destroyed) return
        if (offset >= body.length) return void socket.write("0\r\n\r\n")
        const piece = body.subarray(offset, offset + step)
        offset += step
        socket.write(`${piece.length.toString(16)}\r\n`)
        socket.write(piece)
        socket.write("\r\n")
        if (spec.framing === "slow") setTimeout(next, 10)
        else next()
      }
      next()
    })
  })

describe("reliability: the task server under hostile requests", () => {
  it.scopedLive("no 5xx, no crash, no echo, no inherited field, bounded memory; then still correct", () =>
    Effect.gen(function*() {
      const received = yield* Queue.unbounded<Record<string, unknown>>()
      const server = yield* startTaskServer(
        taskHandlersLayer(handleTask(Transcribe, (payload) => Queue.offer(received, payload))),
        { config: { appEnv: "test", auth: secret } }
      )
      const count = size(400, 3000)
      const seed = Date.now()
      const specs = fc.sample(spec, { numRuns: count, seed })
      const rssBefore = process.memoryUsage().rss
      const started = performance.now()
      const statuses = new Map<number, number>()
      const failures: Array<string> = []
      let next = 0
      const worker = async () => {
        while (next < specs.length) {
          const index = next++
          const request = specs[index]!
          const { status, text } = await send(server.url, request)
          statuses.set(status, (statuses.get(status) ?? 0) + 1)
          const what = `request ${index} (seed ${seed}): ${request.method} ${request.path.slice(0, 60)} ${request.framing}`
          if (status >= 500) failures.push(`${what} answered ${status}`)
          // A valid task sent whole is always answered; a refused one may be cut off (status 0)
          // while its client still sends the body the server does not read.
          if (status === 0 && isValidTask(request)) failures.push(`${what} went unanswered`)
          if (text.includes(secret)) failures.push(`${what} echoed the secret`)
          if (text.includes(marker)) failures.push(`${what} echoed a payload value`)
        }
      }
      yield* Effect.promise(() => Promise.all(Array.from({ length: 8 }, worker)))
      const ms = performance.now() - started
      const rssGrowth = process.memoryUsage().rss - rssBefore
      expect(failures).toEqual([])
      // Nothing a handler received carries an inherited field or an own __proto__.
      for (const payload of yield* Queue.takeAll(received)) {
        expect(Object.getPrototypeOf(payload)).toBe(Object.prototype)
        expect((payload as { role?: unknown }).role).toBeUndefined()
        expect(Object.hasOwn(payload, "__proto__")).toBe(false)
      }
      expect(rssGrowth).toBeLessThan(512 * 1024 * 1024)
      // Still serving, correctly.
      expect((yield* server.post(Transcribe.path, { filename: "a.wav", user_id: "1" }, { "x-tasks-auth": secret })).status)
        .toBe(200)
      expect(yield* Queue.take(received)).toEqual({ filename: "a.wav", user_id: "1" })
      report("server under generated hostile requests", {
        requests: count,
        "requests/s": Math.round((count / ms) * 1000),
        "5xx answers": failures.filter((failure) => failure.includes("answered 5")).length,
        "secrets or values echoed": failures.filter((failure) => failure.includes("echoed")).length,
        "valid tasks unanswered": failures.filter((failure) => failure.includes("unanswered")).length,
        "RSS growth (MiB)": Math.round(rssGrowth / 1024 / 1024),
        "still serving correctly after": "yes",
        statuses: [...statuses].sort(([a], [b]) => a - b).map(([status, n]) => `${status}:${n}`).join(" ")
      })
    }), { timeout: 240_000 })
})
