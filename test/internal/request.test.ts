/**
 * Input validation through the public API: invalid input is a DispatchError and
 * reaches no route; valid input reaches exactly one, unchanged.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, FastCheck as fc, Layer, Option } from "effect"
import { enqueueHttpTask, type EnqueueOptions, TasksClient, TasksConfig } from "../../src/index.js"
import { type Dispatched, recordingRoutes } from "../utils/routes.js"

const enqueue = (path: string, payload: unknown, options?: EnqueueOptions) => {
  const dispatched: Array<Dispatched> = []
  const layer = TasksClient.layerWithoutRoutes.pipe(
    Layer.provide(recordingRoutes(dispatched)),
    Layer.provide(TasksConfig.layerWith({ appEnv: "test" }))
  )
  return enqueueHttpTask(path, payload, options).pipe(
    Effect.either,
    Effect.map((result) => ({ result, dispatched })),
    Effect.provide(layer)
  )
}

const segment = fc.stringMatching(/^[A-Za-z0-9\-_~]{1,12}$/).filter((s) => s !== "." && s !== "..")
const validPath = fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => "/" + parts.join("/"))

const badInsert = fc.constantFrom<[string, string]>(
  [" ", "a space"],
  ["\n", "LF"],
  ["\r\n", "CRLF"],
  ["\t", "a tab"],
  ["\u0000", "NUL"],
  ["?q=1", "a query"],
  ["#frag", "a fragment"],
  ["/../", "a .. segment"],
  ["\u2028", "a line separator"]
)
const invalidPath = fc.oneof(
  fc.tuple(validPath, badInsert, fc.nat()).map(([path, [bad]]) => path + bad + "x"),
  validPath.map((path) => path.slice(1)), // relative
  validPath.map((path) => "https://evil.example" + path), // absolute URL
  validPath.map((path) => "//evil.example" + path), // scheme-relative host
  validPath.map((path) => path + "/..")
)

const notJson = fc.oneof(
  fc.bigInt().map((n) => n as unknown),
  fc.constant(() => 1),
  fc.constant(Symbol("s")),
  fc.constantFrom(NaN, Infinity, -Infinity),
  fc.constant(new Map([["a", 1]])),
  fc.constant(new Set([1])),
  fc.constant(undefined)
)
/** A JSON value with one non-JSON value planted somewhere inside. */
const invalidPayload = fc.tuple(fc.array(fc.jsonValue(), { maxLength: 3 }), notJson, fc.nat(), fc.boolean()).map(
  ([values, bad, at, inObject]) => {
    const planted: Array<unknown> = [...values]
    planted.splice(at % (values.length + 1), 0, bad)
    const index = at % (values.length + 1)
    // undefined is dropped by JSON only as an object property, so plant it in an array
    return inObject && bad !== undefined
      ? { payload: { nested: { list: planted } }, where: `payload.nested.list[${index}]` }
      : { payload: planted, where: `payload[${index}]` }
  }
)

describe("path and payload validation", () => {
  it.effect.prop("every valid path and JSON payload reaches one route unchanged", {
    path: validPath,
    payload: fc.jsonValue()
  }, ({ path, payload }) =>
    Effect.gen(function*() {
      const { dispatched, result } = yield* enqueue(path, payload)
      expect(result._tag).toBe("Right")
      expect(dispatched).toHaveLength(1)
      expect(dispatched[0]?.request.path).toBe(path)
      expect(JSON.parse(dispatched[0]!.request.body)).toEqual(JSON.parse(JSON.stringify(payload)))
    }))

  it.effect.prop("no invalid path is ever dispatched", { path: invalidPath }, ({ path }) =>
    Effect.gen(function*() {
      const { dispatched, result } = yield* enqueue(path, { ok: true })
      expect(dispatched).toEqual([])
      expect(result).toMatchObject({ _tag: "Left", left: { _tag: "DispatchError", reason: "invalid_path", path } })
    }))

  it.effect.prop("no payload that JSON would change or reject is ever dispatched; the error says where", {
    planted: invalidPayload
  }, ({ planted: { payload, where } }) =>
    Effect.gen(function*() {
      const { dispatched, result } = yield* enqueue("/api/tasks/transcribe", payload)
      expect(dispatched).toEqual([])
      expect(result).toMatchObject({ _tag: "Left", left: { _tag: "DispatchError", reason: "invalid_payload" } })
      expect(result._tag === "Left" && result.left.message).toContain(`${where} is`)
    }))

  it.effect("a cycle is named in the error, with where it is", () =>
    Effect.gen(function*() {
      const payload: Record<string, unknown> = { user: { id: 1 } }
      ;(payload.user as Record<string, unknown>).self = payload
      const { result } = yield* enqueue("/t", payload)
      expect(result).toMatchObject({ left: { reason: "invalid_payload" } })
      expect(result._tag === "Left" && result.left.message).toContain("payload.user.self")
    }))

  it.effect("a payload over Cloud Tasks' 1 MB task limit is refused before any route", () =>
    Effect.gen(function*() {
      const { dispatched, result } = yield* enqueue("/t", { blob: "x".repeat(1024 * 1024) })
      expect(dispatched).toEqual([])
      expect(result).toMatchObject({ left: { reason: "payload_too_large" } })
    }))
})

describe("what an invalid path's message says", () => {
  const cases: ReadonlyArray<[unknown, string]> = [
    ["/api/tasks/transcribe?user=1", "query strings are not allowed in a task path: put those values in the payload"],
    ["/api/tasks/transcribe#x", "fragments ('#') are not allowed in a task path"],
    ["https://api.example.com/api/tasks/transcribe", "a path such as /api/tasks/transcribe is expected, not a URL"],
    ["api/tasks/transcribe", "the path must start with '/'"],
    ["//evil.example/x", "the path must not name a host ('//')"],
    ["/api/tasks/a b", "the path contains whitespace (U+0020)"],
    ["/api/tasks/\u0007", "the path contains a control character (U+0007)"],
    ["/api/tasks/café", "the path contains a non-ASCII character (U+00E9); percent-encode it"],
    ["/api/tasks/a<b", `the path contains "<", which is not allowed in a URL path`],
    ["/api/../admin", "the path must not contain '.' or '..' segments"],
    ["/api/tasks/%zz", "the path has a malformed percent-escape ('%' must be followed by two hex digits)"],
    [42, "the path must be a string, got number"]
  ]
  for (const [path, problem] of cases) {
    it.effect(`${JSON.stringify(path)}: ${problem}`, () =>
      Effect.gen(function*() {
        const { dispatched, result } = yield* enqueue(path as string, {})
        expect(dispatched).toEqual([])
        expect(result).toMatchObject({ left: { _tag: "DispatchError", reason: "invalid_path" } })
        expect(result._tag === "Left" && result.left.message).toContain(problem)
      }))
  }
})

describe("options", () => {
  it.effect("the long-running transcription paths default to a 30-minute deadline; options override", () =>
    Effect.gen(function*() {
      const long = yield* enqueue("/api/tasks/transcribe", {})
      expect(Option.map(long.dispatched[0]!.request.dispatchDeadline, Duration.toMinutes)).toEqual(Option.some(30))
      const other = yield* enqueue("/api/other", {})
      expect(Option.isNone(other.dispatched[0]!.request.dispatchDeadline)).toBe(true)
      const given = yield* enqueue("/api/tasks/transcribe", {}, { dispatchDeadline: "90 seconds" })
      expect(Option.map(given.dispatched[0]!.request.dispatchDeadline, Duration.toSeconds)).toEqual(Option.some(90))
    }))

  const refused: ReadonlyArray<[string, EnqueueOptions]> = [
    ["a deadline under 15 s", { dispatchDeadline: "14 seconds" }],
    ["a deadline over 30 min", { dispatchDeadline: "31 minutes" }],
    ["a task ID with a slash", { taskId: "a/b" }],
    ["a task ID over 500 characters", { taskId: "a".repeat(501) }],
    ["a schedule over 30 days ahead", { delay: "31 days" }],
    ["both delay and scheduleTime", { delay: "1 minute", scheduleTime: new Date() }],
    ["an invalid date", { scheduleTime: new Date("nope") }],
    ["a reserved header", { headers: { "X-Tasks-Auth": "forged" } }],
    ["a Google header", { headers: { "X-Google-Foo": "1" } }],
    ["a header with CRLF", { headers: { "X-Note": "a\r\nInjected: 1" } }]
  ]
  for (const [what, options] of refused) {
    it.effect(`refuses ${what} with reason invalid_options`, () =>
      Effect.gen(function*() {
        const { dispatched, result } = yield* enqueue("/t", {}, options)
        expect(dispatched).toEqual([])
        expect(result).toMatchObject({ left: { _tag: "DispatchError", reason: "invalid_options" } })
      }))
  }

  it.effect("passes a task ID, a delay as a schedule time and extra headers to the route", () =>
    Effect.gen(function*() {
      const { dispatched } = yield* enqueue("/t", {}, { taskId: "job-42_a", delay: "1 hour", headers: { "X-Job": "42" } })
      const request = dispatched[0]!.request
      expect(request.taskId).toEqual(Option.some("job-42_a"))
      expect(Option.map(request.scheduleTime, (d) => d.getTime())).toEqual(Option.some(3_600_000)) // TestClock starts at 0
      expect(request.headers).toEqual({ "X-Job": "42" })
    }))
})
