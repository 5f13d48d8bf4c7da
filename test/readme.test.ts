/**
 * The README shows real code: every TypeScript block, whole programs and fragments alike, is
 * verbatim part of an example or a test that the type check covers (a fragment sits inside the
 * code that gives it its context, indented as that code needs). Examples run through
 * `npm start` and the example tests, tests through vitest; .ci/fresh-app.mjs compiles and runs
 * examples/app.ts and test/examples/readme/ again against the packed tarball.
 */
import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { README_END, README_START, readmeSection, type StressResults } from "./reliability/table.js"

const root = join(import.meta.dirname, "..")
const readme = readFileSync(join(root, "README.md"), "utf8")

/** Each ```ts block with the README line it starts on. */
const blocks = Array.from(readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm), (match) => ({
  line: readme.slice(0, match.index).split("\n").length,
  code: match[1]!
}))

const checkedDirs = ["examples", "test"]
const files = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : /\.ts$/.test(entry.name) ? [join(dir, entry.name)] : []
  )
const sources = checkedDirs.flatMap((dir) => files(join(root, dir))).map((file) => ({
  file: relative(root, file),
  text: readFileSync(file, "utf8")
}))

/** The block, every non-empty line prefixed with `indent`. */
const indented = (code: string, indent: string) =>
  code.split("\n").map((line) => (line === "" ? line : indent + line)).join("\n")
const indents = Array.from({ length: 9 }, (_, level) => " ".repeat(2 * level))

/** The checked files that quote the block, at one indentation for all its lines. */
const quoting = (code: string) =>
  sources.filter(({ text }) => indents.some((indent) => text.includes(indented(code, indent)))).map(({ file }) => file)

describe("README", () => {
  it("the Reliability section shows the committed results of npm run stress", () => {
    const results = JSON.parse(readFileSync(join(root, "stress", "results.json"), "utf8")) as StressResults
    const section = readme.slice(readme.indexOf(README_START), readme.indexOf(README_END) + README_END.length)
    expect(section).toBe(readmeSection(results))
  })

  it("has TypeScript blocks, whole programs and fragments", () => {
    expect(blocks.filter(({ code }) => code.startsWith("import ")).length).toBeGreaterThanOrEqual(5)
    expect(blocks.filter(({ code }) => !code.startsWith("import ")).length).toBeGreaterThanOrEqual(3)
  })

  it("the folders that quote it are type-checked", () => {
    const tsconfig = JSON.parse(readFileSync(join(root, "tsconfig.json"), "utf8")) as { include: Array<string> }
    expect(tsconfig.include).toEqual(expect.arrayContaining(checkedDirs))
  })

  it.each(blocks.map(({ code, line }) => [line, code.split("\n")[0]!, code] as const))(
    "the block at line %i (%s) is quoted by a checked file",
    (line, _, code) => {
      expect(quoting(code), `README line ${line}: put this block, verbatim, in a file under examples/ or test/`).not
        .toEqual([])
    }
  )
})
