import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { taskIdFromKey } from "../src/index.js"

describe("taskIdFromKey", () => {
  it.prop("gives a valid Cloud Tasks ID, the same for the same key, starting with a hash", {
    key: fc.string({ maxLength: 600, unit: "grapheme" })
  }, ({ key }) => {
    const id = taskIdFromKey(key)
    expect(id).toMatch(/^[0-9a-f]{16}(-[A-Za-z0-9_-]+)?$/)
    expect(id.length).toBeLessThanOrEqual(500)
    expect(taskIdFromKey(key)).toBe(id)
  })

  it.prop("different keys give different IDs, even when they read the same", {
    keys: fc.uniqueArray(fc.string({ maxLength: 20 }), { minLength: 2, maxLength: 50 })
  }, ({ keys }) => {
    expect(new Set(keys.map(taskIdFromKey)).size).toBe(keys.length)
  })

  it("keeps the readable part of the key", () => {
    expect(taskIdFromKey("upload:42/a b")).toMatch(/^[0-9a-f]{16}-upload_42_a_b$/)
    expect(taskIdFromKey("upload:42/a b")).not.toBe(taskIdFromKey("upload_42_a_b"))
  })
})
