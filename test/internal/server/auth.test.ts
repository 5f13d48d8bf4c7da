/**
 * The X-Tasks-Auth check: only the exact secret matches; a missing header never does.
 * Equivalent mutant: the "utf8" encoding of the hash input (strings hash as UTF-8 by default).
 */
import { describe, expect, it } from "@effect/vitest"
import { Redacted } from "effect"
import { makeSecretCheck } from "../../../src/internal/server/auth.js"

describe("makeSecretCheck", () => {
  it("matches the secret exactly: not a prefix, a longer value, another of the same length, nor nothing", () => {
    const check = makeSecretCheck(Redacted.make("s3cret"))
    expect(check("s3cret")).toBe(true)
    expect(["s3cre", "s3cret!", "s3creT", "", " s3cret", undefined].map(check)).toEqual(Array(6).fill(false))
  })
})
