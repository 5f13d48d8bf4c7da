/**
 * The paths accepted, and what an invalid payload's refusal says, exactly: the message is what a user reads
 * to fix the call. (test/internal/request.test.ts checks that nothing invalid is dispatched.)
 *
 * Equivalent mutants: in charProblem `code < 0x20` as `<=` and `code > 0x7f` as `>=` (a space
 * is whitespace and 0x7F a control character, both decided earlier); in describe the null and
 * number cases and `typeof value === "object"` (it only describes non-null objects); in at
 * `typeof key === "number"` (an index renders as `[i]` either way); the `Object.hasOwn` skip
 * (a plain object inherits no enumerable keys); the initial ancestors array; the anchors of
 * `pathChar` (it only tests single characters) and the `^` alternative of `dotSegment` (it only
 * sees paths that start with '/').
 */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { encodePayload, pathProblem } from "../../src/internal/encode.js"

describe("pathProblem", () => {
  // Each refusal's message: test/internal/request.test.ts ("what an invalid path's message says").
  it("accepts every character RFC 3986 allows in a path, and percent-escapes", () => {
    for (const path of ["/", "/a:b;c=d", "/a-b._~!$&'()*+,=@", "/%41%7e", "/a/..b/.c", "/.well-known/x"]) {
      expect(pathProblem(path), path).toBeUndefined()
    }
  })
})

describe("encodePayload", () => {
  it("JSON text for what JSON keeps: toJSON, null-prototype objects, shared (not cyclic) values, absent properties", () => {
    const shared = { a: 1 }
    const cases: ReadonlyArray<[unknown, string]> = [
      [{ d: new Date(0) }, "{\"d\":\"1970-01-01T00:00:00.000Z\"}"],
      [Object.assign(Object.create(null), { a: 1 }), "{\"a\":1}"],
      [{ a: shared, b: [shared] }, "{\"a\":{\"a\":1},\"b\":[{\"a\":1}]}"],
      [{ a: undefined, b: null }, "{\"b\":null}"],
      [{ d: { x: 1, toJSON() { return this } } }, "{\"d\":{\"x\":1}}"],
      ["text", "\"text\""],
      [[true, 0, -1.5], "[true,0,-1.5]"],
      // toJSON gets the key JSON.stringify gives it: "" at the top, the property name, the index.
      [{ toJSON: (key: string) => key === "" ? "top" : 1n }, "\"top\""],
      [{ d: { toJSON: (key: string) => key === "d" ? "in d" : 1n } }, "{\"d\":\"in d\"}"],
      [[0, { toJSON: (key: string) => key === "1" ? "second" : 1n }], "[0,\"second\"]"]
    ]
    for (const [payload, json] of cases) expect(encodePayload(payload)).toEqual(Either.right(json))
  })

  it("says where the payload stops being JSON, and why", () => {
    class K {
      x = 1
    }
    const cycle: { a: { b?: unknown } } = { a: {} }
    cycle.a.b = cycle
    const cases: ReadonlyArray<[unknown, string]> = [
      [{ a: [1, { b: NaN }] }, "payload.a[1].b is NaN, which JSON cannot represent"],
      [-Infinity, "payload is -Infinity, which JSON cannot represent"],
      [undefined, "payload is undefined, which JSON cannot represent"],
      [[undefined], "payload[0] is undefined, which JSON cannot represent"],
      [{ n: 1n }, "payload.n is a bigint, which is not JSON-serialisable"],
      [{ f: () => 1 }, "payload.f is a function, which is not JSON-serialisable"],
      [[Symbol("s")], "payload[0] is a symbol, which is not JSON-serialisable"],
      [{ m: new Map() }, "payload.m is a Map, which is not a plain object and would not survive JSON"],
      [{ k: new K() }, "payload.k is a K, which is not a plain object and would not survive JSON"],
      [Object.create({}), "payload is a Object, which is not a plain object and would not survive JSON"],
      [{ o: Object.create(Object.create(null)) }, "payload.o is a object, which is not a plain object and would not survive JSON"],
      [{ d: { toJSON() { throw new Error("boom") } } }, "payload.d.toJSON() threw: Error: boom"],
      [{ d: { toJSON: () => 1n } }, "payload.d is a bigint, which is not JSON-serialisable"],
      [{ "odd key": { $ok: [Infinity] } }, "payload[\"odd key\"].$ok[0] is Infinity, which JSON cannot represent"],
      [{ _a1: { "1a": null, b: [0, [NaN]] } }, "payload._a1.b[1][0] is NaN, which JSON cannot represent"],
      [cycle, "payload.a.b refers back to itself (a cycle)"],
      [{ get a() { throw new Error("no") } }, "the payload could not be encoded as JSON: no"],
      [{ get a() { throw "x" } }, "the payload could not be encoded as JSON: x"]
    ]
    for (const [payload, problem] of cases) expect(encodePayload(payload), problem).toEqual(Either.left(problem))
  })
})
