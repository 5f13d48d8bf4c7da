/**
 * How APP_ENV, booleans and the shared secret are read by both configurations, and what the
 * note on a production-like APP_ENV says (the nearest known value for a typo, none otherwise).
 */
import { describe, expect, it } from "@effect/vitest"
import { Option, Redacted } from "effect"
import { appEnvNote, isDevDefault, parseAppEnv, parseBoolean, readSecret } from "../../src/internal/env.js"

const taken = (value: string) =>
  `APP_ENV ${JSON.stringify(value)} is taken as production-like (only dev, development, local, test, testing and unset are not)`

describe("appEnvNote", () => {
  it("names the nearest known value for a typo, within about a third of its length (at least 2 edits)", () => {
    for (
      const [typo, nearest] of [
        ["tset", "test"],
        [" Tset ", "test"],
        ["tst", "test"],
        ["testingg", "testing"],
        ["developement", "development"],
        ["devxlopmxnx", "development"],
        ["dxx", "dev"],
        ["lokal", "local"],
        ["locl", "local"]
      ] as const
    ) {
      expect(appEnvNote(typo), typo).toBe(`${taken(typo)}; did you mean "${nearest}"?`)
    }
  })

  it("no hint for values far from every known one; no note for production or a dev/test value", () => {
    for (const value of ["xxxx", "dxvxlopmxnx", "prod", "staging", "qa"]) expect(appEnvNote(value), value).toBe(taken(value))
    for (const value of [undefined, "production", " PRODUCTION ", "dev", "testing", ""]) {
      expect(appEnvNote(value), value).toBeUndefined()
    }
  })
})

describe("parsing", () => {
  it("APP_ENV, trimmed and in any case", () => {
    expect([undefined, "", " ", " Local ", "DEVELOPMENT", "\tTest\n", "testing", "prod", "tests"].map(parseAppEnv)).toEqual(
      ["dev", "dev", "dev", "dev", "dev", "test", "test", "production", "production"]
    )
  })

  it("booleans, trimmed: None for anything else", () => {
    expect([" ON ", "Yes", "1", "TRUE", "off", "No", "0", "false", "  "].map(parseBoolean)).toEqual(
      [true, true, true, true, false, false, false, false, false].map(Option.some)
    )
    expect(["2", "y", "truee", "nope"].map(parseBoolean)).toEqual(Array(4).fill(Option.none()))
  })

  it("the secret, trimmed and redacted; blank is unset; the development default is recognised", () => {
    expect(Option.map(readSecret(" s3cret\t"), Redacted.value)).toEqual(Option.some("s3cret"))
    expect(Option.map(readSecret(Redacted.make(" r ")), Redacted.value)).toEqual(Option.some("r"))
    expect(readSecret("  ")).toEqual(Option.none())
    expect(readSecret(undefined)).toEqual(Option.none())
    expect(isDevDefault(Redacted.make("a-secure-local-secret"))).toBe(true)
    expect(isDevDefault(Redacted.make("a-secure-local-secret2"))).toBe(false)
  })
})
