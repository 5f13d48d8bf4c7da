/**
 * The examples run: each is started as a user would start it (tsx, resolving
 * "effect-http-tasks" to src/), must exit 0 by itself and print what it promises.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { join } from "node:path"

const root = join(import.meta.dirname, "..", "..")

const run = (example: string) =>
  new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--conditions=@effect-http-tasks/source", join("examples", example)],
      // A clean environment: the examples read their configuration from it.
      { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "" } }
    )
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.on("close", (code) => resolve({ code, output }))
  })

describe("examples", () => {
  it("npm start's demo shows every route, the production one through the emulator, and exits 0", async () => {
    const { code, output } = await run("demo.ts")
    expect(code, output).toBe(0)
    expect(output).toMatch(/route=dry-run name=dry-run-\d{4}-\d\d-\d\dT[\d:.]+Z/)
    expect(output).toMatch(/route=local name=local-direct-dispatch\/default\/\d{20}/)
    expect(output).toMatch(/route=worker name=dev-worker-dispatch-/)
    expect(output).toMatch(/route=loopback name=local-loopback-/)
    expect(output).toMatch(/route=cloud-tasks name=projects\/demo\/locations\/us-central1\/queues\/default\/tasks\/\w+/)
    expect(output).toContain('process-chunk received payload={"episode_id":"e1","chunk_id":"chunk-1"}')
    expect(output).toContain("emulator: succeeded after 1 attempt(s), HTTP 200")
    expect(output).not.toContain("demo-secret")
  }, 60_000)

  it("dry-run-and-local runs the handler only in dev", async () => {
    const { code, output } = await run("dry-run-and-local.ts")
    expect(code, output).toBe(0)
    expect(output).toMatch(/enqueued dry-run-\S+ via dry-run/)
    expect(output).toMatch(/enqueued local-direct-dispatch\/default\/\d{20} via local/)
    expect(output.match(/message=transcribing/g)).toHaveLength(1)
  }, 60_000)

  it("lifecycle retries, drops, waits and cancels as Cloud Tasks would, and drain waits for every outcome", async () => {
    const { code, output } = await run("lifecycle.ts")
    expect(code, output).toBe(0)
    expect(output).toContain('message="sent to ada@example.com after 0 retries"')
    // two failures, retried after the queue's 100 ms and 200 ms, then success
    expect(output).toMatch(/Retrying local-direct-dispatch\/emails\/\d{20} in 100ms/)
    expect(output).toMatch(/Retrying local-direct-dispatch\/emails\/\d{20} in 200ms/)
    expect(output).toContain('message="sent to flaky@example.com after 2 retries"')
    // RetryAfterError: 503 with Retry-After, and the retry waits as long
    expect(output).toMatch(/Retrying local-direct-dispatch\/emails\/\d{20} in 1s/)
    expect(output).toContain('message="sent to busy@example.com after 1 retries"')
    expect(output).toMatch(/was dropped, not retried: no such domain: bob@invalid/)
    expect(output).toMatch(/event=tasks.dev.task_cancelled/)
    expect(output).not.toContain("carol@example.com")
    expect(output.match(/event=tasks.dev.task_succeeded/g)).toHaveLength(3)
  }, 60_000)

  it("app runs in dev with no variables set and handles the task with its own service", async () => {
    const { code, output } = await run("app.ts")
    expect(code, output).toBe(0)
    expect(output).toContain("transcript of gs://bucket/interview.wav")
    expect(output).toContain("event=tasks.dev.task_succeeded")
  }, 60_000)
})
