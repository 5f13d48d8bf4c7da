/**
 * The guard test: dispatch has one path, and the layers stay apart. Only the cloud
 * route (and the emulator, which serves the same API) loads the Cloud Tasks client or
 * gRPC; only the one HTTP sender, the task server and the emulator make HTTP calls;
 * nothing dispatches through child processes, worker threads or clusters. Limits are
 * defined once, errors live together, runtime techniques stay internal, the task
 * server's subpath loads nothing of the enqueuing side, and the test kit's subpath
 * dispatches nothing: it loads no Cloud Tasks client and no HTTP sender.
 */
import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { modulesLoadedBy } from "./utils/modules.js"

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

  it("only the cloud route and queue provisioning (through internal/cloudClient.ts) load @google-cloud/tasks, @grpc/* or google-gax", () => {
    const pattern = /["'`](@google-cloud\/tasks|@grpc\/[\w-]+|google-gax)["'`]/
    expect(pattern.test(sources.find((s) => s.file === "internal/cloudRoute.ts")!.code)).toBe(true)
    const allowed = (file: string) =>
      file === "internal/cloudRoute.ts" || file === "internal/cloudClient.ts" || isEmulator(file)
    expect(offenders(pattern, allowed)).toEqual([])
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

  it("@effect/platform is imported module by module, never through its index", () => {
    expect(offenders(/from\s+["']@effect\/platform["']/, () => false)).toEqual([])
  })

  it("every Cloud Tasks limit and pattern is defined in internal/limits.ts only", () => {
    const limits = /\b(1_?048_?569|81_?920|80 \* 1024|1_?800_?000|600_?000|15_?000|500\}|A-Za-z0-9_-\]\{1,500|2_?592_?000_?000|30 \* 24 \* 3_?600_?000)\b|Google-Cloud-Tasks/
    expect(offenders(limits, (file) => file === "internal/limits.ts")).toEqual([])
  })

  it("errors are defined in Errors.ts (the emulator's own error beside the emulator)", () => {
    const errorClass = /extends\s+(Data\.TaggedError|Schema\.TaggedError|Data\.Error)\b/
    expect(offenders(errorClass, (file) => file === "Errors.ts" || file === "CloudTasksEmulator.ts")).toEqual([])
  })

  it("runtime techniques (withFiberRuntime, unsafe context reads) stay in src/internal/", () => {
    expect(offenders(/withFiberRuntime|Context\.unsafeGet|unsafeCurrentTimeMillis/, (file) => file.startsWith("internal/")))
      .toEqual([])
  })

  const isCloudClient = (path: string) => /[/\\](@google-cloud[/\\]tasks|@grpc|google-gax)[/\\]/.test(path)

  it("the server subpath loads no client, route or configuration module of the enqueuing side", async () => {
    const { all, sources: loaded } = await modulesLoadedBy("await import('effect-http-tasks/server')")
    expect(loaded).toContain("TaskServer.ts")
    const enqueuing = loaded.filter((file) =>
      /^(TasksClient|TasksConfig|TaskDefinition|\w+Route|CloudTasksEmulator)\.ts$/.test(file) ||
      /^internal\/(routing|routeModules|request|encode|httpRoute|httpPost|localQueue|cloudRoute|cloudClient|dryRun|engine\/|emulator\/)/.test(file)
    )
    expect(enqueuing).toEqual([])
    expect(all.filter(isCloudClient)).toEqual([])
  })

  it("the test kit records a production task and runs it in-process, loading no Cloud Tasks client and no HTTP sender", async () => {
    const { all, sources: loaded } = await modulesLoadedBy(`
      import { Effect, Layer } from "effect"
      import { enqueueHttpTask, TaskHandlers } from "effect-http-tasks"
      import { TestTasks } from "effect-http-tasks/testing"
      const kit = TestTasks.layerWith({
        appEnv: "production", project: "p", location: "l", queue: "q",
        urlBase: "https://api.example.com", auth: "test-secret"
      }).pipe(Layer.provide(TaskHandlers.layer({ "/api/tasks/a": () => Effect.void })))
      const [task] = await Effect.runPromise(
        Effect.zipRight(enqueueHttpTask("/api/tasks/a", {}), TestTasks.runAll).pipe(Effect.provide(kit))
      )
      if (task.route !== "cloud-tasks" || task.state !== "succeeded") throw new Error(JSON.stringify(task))
    `)
    expect(loaded).toContain("TestTasks.ts")
    expect(loaded.filter((file) => /^internal\/(cloudRoute|httpRoute|httpPost)\.ts$/.test(file))).toEqual([])
    expect(all.filter(isCloudClient)).toEqual([])
  })
})
