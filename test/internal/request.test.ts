/**
 * Input validation through the public API: invalid input is a DispatchError and
 * reaches no route; valid input reaches exactly one, unchanged.
 *
 * Mutation testing of src/internal/request.ts: one equivalent mutant, disabled in the source with
 * its reason (the shared empty headers checked anyway: only work). One survivor is not a gap:
 * `Option.every` for the shared 30-minute deadline makes the module fail to load, so every test
 * here fails when it is applied by hand; Stryker's vitest runner does not reload a module for a
 * static mutant.
 */
import { describe, expect, it } from "@effect/vitest"
import { DateTime, Duration, Effect, Either, FastCheck as fc, Layer, Option } from "effect"
import { enqueueHttpTask, type EnqueueOptions, TasksClient, TasksConfig } from "../../src/index.js"
import { MAX_TASK_BYTES } from "../../src/internal/limits.js"
import { makeTaskRequest, type PayloadEncoder } from "../../src/internal/request.js"
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
    [42, "the path must be a string, got number"],
    ["/a/./b", "the path must not contain '.' or '..' segments"],
    ["/a/.", "the path must not contain '.' or '..' segments"],
    ["/./a", "the path must not contain '.' or '..' segments"],
    ["/a%2", "the path has a malformed percent-escape ('%' must be followed by two hex digits)"],
    ["/\u007f", "the path contains a control character (U+007F)"],
    ["/\u001f", "the path contains a control character (U+001F)"],
    ["/a\tb", "the path contains whitespace (U+0009); percent-encode it or leave it out"],
    ["/a\u2028b", "the path contains whitespace (U+2028); percent-encode it or leave it out"],
    ["/a b/http://x", "the path contains whitespace (U+0020); percent-encode it or leave it out"],
    ["/\u00a0", "the path contains whitespace (U+00A0); percent-encode it or leave it out"],
    ["/\u{1F600}", "the path contains a non-ASCII character (U+1F600); percent-encode it"],
    ["/a\"b", "the path contains \"\\\"\", which is not allowed in a URL path"],
    ["mailto:x", "the path must start with '/'"],
    ["", "the path must start with '/'"],
    ["git+ssh://h/x", "a path such as /api/tasks/transcribe is expected, not a URL: the base URL comes from configuration"],
    [null, "the path must be a string, got null"],
    [undefined, "the path must be a string, got undefined"],
    [{}, "the path must be a string, got object"]
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

describe("makeTaskRequest: exact limits and messages", () => {
  const now = Date.parse("2026-03-01T12:00:00Z")
  const make = (path: unknown, payload: unknown, options?: EnqueueOptions, encoder?: PayloadEncoder) =>
    makeTaskRequest(path as string, payload, options, now, encoder)
  const refusal = (path: unknown, payload: unknown, options?: EnqueueOptions) =>
    Either.match(make(path, payload, options), {
      onLeft: ({ reason, message }) => [reason, message],
      onRight: () => ["accepted"]
    })
  const ok = (options: EnqueueOptions) => Either.getOrThrow(make("/a", {}, options))

  it("a JSON body of exactly 1,048,569 bytes is accepted, one byte more refused, counted in UTF-8 bytes", () => {
    const exact = "x".repeat(MAX_TASK_BYTES - 2)
    expect(Either.getOrThrow(make("/a", exact)).body).toBe(JSON.stringify(exact))
    expect(refusal("/a", exact + "x")).toEqual([
      "payload_too_large",
      "The payload for /a is 1048570 bytes of JSON; a task may carry at most 1048569"
    ])
    expect(refusal("/a", "é".repeat((MAX_TASK_BYTES - 1) / 2))[0]).toBe("payload_too_large")
  })

  it("paths and payloads are refused with the path quoted, or its type when it is no string", () => {
    expect(refusal("/a b", 1)).toEqual([
      "invalid_path",
      "Invalid task path \"/a b\": the path contains whitespace (U+0020); percent-encode it or leave it out"
    ])
    expect(refusal(42, 1)).toEqual(["invalid_path", "Invalid task path number: the path must be a string, got number"])
    // A refusal without a cause carries none.
    expect(make("/a b", 1)).toStrictEqual(Either.left({
      reason: "invalid_path",
      message: "Invalid task path \"/a b\": the path contains whitespace (U+0020); percent-encode it or leave it out"
    }))
    expect(refusal("/a", [1n])).toEqual([
      "invalid_payload",
      "Invalid payload for /a: payload[0] is a bigint, which is not JSON-serialisable"
    ])
  })

  it("an encoder's value is what is sent; its failure is the refusal, with its cause", () => {
    expect(Either.getOrThrow(make("/a", 1, undefined, (n) => Either.right({ n }))).body).toBe("{\"n\":1}")
    const cause = new Error("schema")
    expect(make("/a", 1, undefined, () => Either.left({ message: "n must be string", cause }))).toEqual(
      Either.left({ reason: "invalid_payload", message: "n must be string", cause })
    )
  })

  it("dispatchDeadline: 15 s to 30 min inclusive; the seed's long paths default to 30 min", () => {
    expect(ok({ dispatchDeadline: "15 seconds" }).dispatchDeadline).toEqual(Option.some(Duration.seconds(15)))
    expect(ok({ dispatchDeadline: "30 minutes" }).dispatchDeadline).toEqual(Option.some(Duration.minutes(30)))
    expect(ok({}).dispatchDeadline).toEqual(Option.none())
    for (const path of ["/api/tasks/transcribe", "/api/tasks/assemble", "/api/tasks/process-chunk"]) {
      expect(Either.getOrThrow(make(path, {})).dispatchDeadline, path).toEqual(Option.some(Duration.minutes(30)))
    }
    for (const dispatchDeadline of [Duration.millis(14_999), Duration.millis(1_800_001), "soon" as never]) {
      expect(refusal("/a", {}, { dispatchDeadline })).toEqual([
        "invalid_options",
        "dispatchDeadline must be between 15 seconds and 30 minutes"
      ])
    }
  })

  it("delay and scheduleTime: from the clock's now, at most 30 days ahead, one of them", () => {
    const days30 = 30 * 24 * 3_600_000
    expect(ok({ delay: "10 seconds" }).scheduleTime).toEqual(Option.some(new Date(now + 10_000)))
    expect(ok({ delay: Duration.millis(days30) }).scheduleTime).toEqual(Option.some(new Date(now + days30)))
    expect(ok({ scheduleTime: new Date(now + days30) }).scheduleTime).toEqual(Option.some(new Date(now + days30)))
    expect(ok({ scheduleTime: DateTime.unsafeMake(now + 5) }).scheduleTime).toEqual(Option.some(new Date(now + 5)))
    const tooFar = ["invalid_options", "scheduleTime must be at most 30 days ahead"]
    expect(refusal("/a", {}, { delay: Duration.millis(days30 + 1) })).toEqual(tooFar)
    expect(refusal("/a", {}, { scheduleTime: new Date(now + days30 + 1) })).toEqual(tooFar)
    expect(refusal("/a", {}, { delay: Duration.infinity })).toEqual(["invalid_options", "delay must be a finite duration"])
    expect(refusal("/a", {}, { delay: "never" as never })).toEqual(["invalid_options", "delay must be a finite duration"])
    for (const scheduleTime of [new Date(NaN), "2026-03-02" as never]) {
      expect(refusal("/a", {}, { scheduleTime })).toEqual([
        "invalid_options",
        "scheduleTime must be a valid Date or DateTime"
      ])
    }
    expect(refusal("/a", {}, { delay: "1 second", scheduleTime: new Date(now) })).toEqual([
      "invalid_options",
      "give scheduleTime or delay, not both"
    ])
  })

  it("taskId: 1 to 500 letters, digits, - and _", () => {
    expect(ok({ taskId: "a".repeat(500) }).taskId).toEqual(Option.some("a".repeat(500)))
    expect(ok({ taskId: "A-z_09" }).taskId).toEqual(Option.some("A-z_09"))
    for (const taskId of ["a".repeat(501), "a/b", "", 7 as never]) {
      expect(refusal("/a", {}, { taskId })).toEqual([
        "invalid_options",
        `taskId ${JSON.stringify(taskId)} must be 1 to 500 letters, digits, hyphens or underscores`
      ])
    }
  })

  it("extra headers: valid names, none reserved, no CR/LF/NUL, names and values under 80 KB together", () => {
    const limit = 80 * 1024
    expect(ok({ headers: { "X-A": "v".repeat(limit - 3) } }).headers).toEqual({ "X-A": "v".repeat(limit - 3) })
    // Only whole reserved names are reserved: one inside a longer name is not.
    const lookalikes = { "X-Forwarded-Host": "a", "Hostname": "b", "X-User-Agent": "c", "Content-Length-Hint": "d" }
    expect(ok({ headers: lookalikes }).headers).toEqual(lookalikes)
    const over = ["invalid_options", "Invalid headers for /a: the extra headers exceed 80 KB"]
    expect(refusal("/a", {}, { headers: { "X-Ab": "v".repeat(limit - 3) } })).toEqual(over)
    expect(refusal("/a", {}, { headers: { "X-A": "é".repeat((limit - 3) / 2 + 1) } })).toEqual(over)
    expect(refusal("/a", {}, { headers: { "X-A": "v".repeat(limit / 2), "X-B": "v".repeat(limit / 2) } })).toEqual(over)
    expect(refusal("/a", {}, { headers: { "a b": "v" } })).toEqual([
      "invalid_options",
      "Invalid headers for /a: the header name \"a b\" is not a valid HTTP token"
    ])
    for (const name of ["Content-Type", "X-Tasks-Auth", "authorization", "Traceparent", "tracestate", "Host", "User-Agent", "X-CloudTasks-TaskName", "X-Google-X"]) {
      expect(refusal("/a", {}, { headers: { [name]: "v" } })).toEqual([
        "invalid_options",
        `Invalid headers for /a: the header ${JSON.stringify(name)} is reserved`
      ])
    }
    for (const value of ["a\rb", "a\nb", "a\0b", 1 as never]) {
      expect(refusal("/a", {}, { headers: { "X-A": value } })).toEqual([
        "invalid_options",
        "Invalid headers for /a: the header \"X-A\" must be a string without CR, LF or NUL"
      ])
    }
    for (const name of ["a(b", "a:b", ""]) {
      expect(refusal("/a", {}, { headers: { [name]: "v" } })[1], name).toBe(
        `Invalid headers for /a: the header name ${JSON.stringify(name)} is not a valid HTTP token`
      )
    }
    expect(ok({ headers: { "X-Content-Type": "v", "X-Tasks-Authx": "v" } }).headers).toEqual({
      "X-Content-Type": "v",
      "X-Tasks-Authx": "v"
    })
  })

  it("a queue by ID or definition is checked and carried; the rest of the request as given", () => {
    expect(ok({ queue: "reports" }).queue).toEqual(Option.some({ id: "reports", settings: {} }))
    expect(refusal("/a", {}, { queue: "a_b" })[0]).toBe("invalid_options")
    expect(make("/a", { k: 1 })).toEqual(Either.right({
      path: "/a",
      body: "{\"k\":1}",
      queue: Option.none(),
      dispatchDeadline: Option.none(),
      scheduleTime: Option.none(),
      taskId: Option.none(),
      headers: {},
      traceparent: Option.none()
    }))
  })
})
