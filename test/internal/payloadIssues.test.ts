/**
 * A payload that fails its Schema is described field by field, never by value: the
 * message of the DispatchError on enqueue and of the server's 422.
 *
 * Equivalent mutants (effect 3.22): the Refinement case emptied (falling into the Transformation
 * case) or always visiting its inner issue: a failed predicate's inner issue is a Type issue of
 * the refinement itself, so the same "must be <refinement>" results. Not covered: Forbidden
 * (a Schema that needs async or services to decode, which task payload Schemas are not).
 */
import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import { describeIssues, payloadIssues, taskPayloadError } from "../../src/internal/payloadIssues.js"

const issuesOf = <A, I>(schema: Schema.Schema<A, I>, value: unknown) => {
  const result = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "error" })(value)
  if (Either.isRight(result)) throw new Error("expected a failure")
  return result.left
}

describe("payloadIssues", () => {
  it("names each field and what it must be, in order, without the value", () => {
    const error = issuesOf(
      Schema.Struct({
        user_id: Schema.String,
        count: Schema.Int,
        n: Schema.NumberFromString,
        items: Schema.Array(Schema.Struct({ name: Schema.String })),
        "odd key": Schema.Number,
        pos: Schema.Number.pipe(Schema.positive())
      }),
      { count: 1.5, n: "abc", items: [{ name: "secret-1" }, { name: 1 }], "odd key": "x", pos: -1, extra: "secret-2" }
    )
    expect(payloadIssues(error.issue)).toEqual([
      { path: "extra", problem: "is not allowed" },
      { path: "user_id", problem: "is missing" },
      { path: "count", problem: "must be Int" },
      { path: "n", problem: "could not be decoded" },
      { path: "items[1].name", problem: "must be string" },
      { path: "[\"odd key\"]", problem: "must be number" },
      { path: "pos", problem: "must be positive" }
    ])
    const refusal = taskPayloadError("/p", error)
    expect(refusal.message).toBe(
      "Invalid payload for /p: extra is not allowed; user_id is missing; count must be Int; n could not be decoded; " +
        "items[1].name must be string; [\"odd key\"] must be number; pos must be positive"
    )
    expect(refusal.path).toBe("/p")
    expect(refusal.message).not.toContain("secret")
  })

  it("the whole payload is 'payload'; symbol keys are quoted; a refinement after a transformation is named", () => {
    expect(payloadIssues(issuesOf(Schema.String, 1).issue)).toEqual([{ path: "payload", problem: "must be string" }])
    expect(payloadIssues(issuesOf(Schema.Struct({ a: Schema.Struct({ [Symbol.for("s")]: Schema.String }) }), { a: {} }).issue))
      .toEqual([{ path: "a[\"Symbol(s)\"]", problem: "is missing" }])
    expect(payloadIssues(issuesOf(Schema.Struct({ d: Schema.DateFromString.pipe(Schema.filter(() => false)) }), {
      d: "2020-01-01"
    }).issue)).toEqual([{ path: "d", problem: "must be { DateFromString | filter }" }])
  })

  it("a failure before a refinement or a transformation is named as what it is; odd keys are quoted", () => {
    const schema = Schema.Struct({
      n: Schema.NumberFromString.pipe(Schema.positive()),
      m: Schema.NumberFromString,
      "1a": Schema.String,
      "a-b": Schema.String,
      a1: Schema.String,
      $x: Schema.String,
      _y: Schema.Array(Schema.String)
    })
    const issues = payloadIssues(issuesOf(schema, { n: "abc", m: 1, "1a": 1, "a-b": 1, a1: 1, $x: 1, _y: ["ok", 2] }).issue)
    expect(describeIssues(issues)).toBe(
      "n could not be decoded; m must be string; [\"1a\"] must be string; [\"a-b\"] must be string; " +
        "a1 must be string; $x must be string; _y[1] must be string"
    )
  })
})
