/**
 * The README shows real code: every TypeScript block that starts with an import
 * is, verbatim, part of an example or a test that the type check covers and that
 * runs (examples through `npm start`/the example tests, tests through vitest).
 */
import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"

const root = join(import.meta.dirname, "..")
const readme = readFileSync(join(root, "README.md"), "utf8")
const blocks = Array.from(readme.matchAll(/```ts\n([\s\S]*?)```/g), (match) => match[1]!)
  .filter((block) => block.startsWith("import "))

const files = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : /\.ts$/.test(entry.name) ? [join(dir, entry.name)] : []
  )
const sources = [...files(join(root, "examples")), ...files(join(root, "test"))].map((file) => readFileSync(file, "utf8"))

describe("README", () => {
  it("has complete programs to check", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2)
  })

  it.each(blocks.map((block) => [block.split("\n").find((line) => !line.startsWith("import"))!, block]))(
    "the block starting %s is real, checked code",
    (_, block) => {
      expect(sources.some((source) => source.includes(block))).toBe(true)
    }
  )
})
