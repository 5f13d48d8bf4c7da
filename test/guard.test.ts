/**
 * The guard test of SPEC §8: dispatch has one path. Only the cloud route (and the
 * emulator, which serves the same API) loads the Cloud Tasks client or gRPC; only
 * the HTTP routes, the task server and the emulator's delivery make HTTP calls;
 * nothing dispatches through child processes, worker threads or clusters.
 */
import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"

const root = join(import.meta.dirname, "..", "src")
const files = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []
  )
const sources = files(root).map((file) => ({
  file: relative(root, file).replaceAll("\\", "/"),
  // comments may mention anything
  code: readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1")
}))

const isEmulator = (file: string) => file === "CloudTasksEmulator.ts" || file.startsWith("internal/emulator/")

const offenders = (pattern: RegExp, allowed: (file: string) => boolean) =>
  sources.filter(({ code, file }) => pattern.test(code) && !allowed(file)).map(({ file }) => file)

describe("guard", () => {
  it("scans the real source tree", () => {
    expect(sources.map((s) => s.file)).toEqual(expect.arrayContaining(["CloudTasksRoute.ts", "TasksClient.ts"]))
  })

  it("only the cloud route loads @google-cloud/tasks, @grpc/* or google-gax", () => {
    const pattern = /["'`](@google-cloud\/tasks|@grpc\/[\w-]+|google-gax)["'`]/
    expect(pattern.test(sources.find((s) => s.file === "CloudTasksRoute.ts")!.code)).toBe(true)
    expect(offenders(pattern, (file) => file === "CloudTasksRoute.ts" || isEmulator(file))).toEqual([])
  })

  it("only the HTTP routes, the task server and the emulator make HTTP calls", () => {
    const pattern = /\bHttpClient\b|\bfetch\s*\(|["'](node:)?https?["']|["']undici["']|XMLHttpRequest/
    const allowed = (file: string) =>
      file === "internal/httpPost.ts" || file === "TaskServer.ts" || file.startsWith("internal/server/") ||
      isEmulator(file)
    expect(offenders(pattern, allowed)).toEqual([])
  })

  it("nothing uses child_process, worker_threads or cluster", () => {
    expect(offenders(/["'](node:)?(child_process|worker_threads|cluster)["']/, () => false)).toEqual([])
  })
})
