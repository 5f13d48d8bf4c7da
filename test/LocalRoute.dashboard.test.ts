/**
 * The in-process queue's dashboard (`TASKS_DASHBOARD_PORT`) in a real headless browser
 * (Debian's `chromium`, driven by playwright-core), as `test/emulator/dashboard.test.ts` drives
 * the emulator's: the page loads from the port the route logs, a task enqueued through the
 * library with a failing handler shows its failed attempts, and "Run now", "Delete",
 * "Pause"/"Resume" and "Replay" act on the in-process queue (the handlers run, or do not).
 * A screenshot is kept in `test-artifacts/local-dashboard.png`. `LocalRoute.dashboardApi.test.ts`
 * tests the same dashboard over HTTP, without a browser.
 *
 * `.ci/run` installs chromium; elsewhere the browser part is skipped when no browser is found
 * (set `CHROMIUM_PATH` to use another one). In CI a missing browser fails it.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, ManagedRuntime } from "effect"
import { existsSync } from "node:fs"
import type { Browser, Page } from "playwright-core"
import {
  cancelTask,
  defineQueue,
  drain,
  enqueueHttpTask,
  Events,
  TaskHandlers,
  TasksClient
} from "../src/index.js"
import { artifactPath, browserTestsRun, openPage } from "./utils/browser.js"
import { captureLogs, type CapturedLogs } from "./utils/logs.js"

const SECRET = "in-process-secret-value-42"
const DEFAULT_QUEUE = "projects/local/locations/local/queues/default"
const Fast = defineQueue("dashboard", { maxAttempts: 3, minBackoff: "20 millis", maxBackoff: "50 millis" })

/** An in-process client asked for a dashboard on a free port, its logs captured; `ran` records each handler run. */
const start = (ran: Array<{ readonly path: string; readonly payload: unknown }>) => {
  const { layer: logLayer, logs } = captureLogs()
  const record = (path: string, outcome: Effect.Effect<void, string>) => (payload: unknown) =>
    Effect.zipRight(Effect.sync(() => ran.push({ path, payload })), outcome)
  const layer = TasksClient.layerWith({ appEnv: "dev", auth: SECRET, dashboardPort: 0 }).pipe(
    Layer.provide(TaskHandlers.layer({
      "/api/tasks/fail": record("/api/tasks/fail", Effect.fail("the handler failed")),
      "/api/tasks/ok": record("/api/tasks/ok", Effect.void)
    })),
    Layer.provideMerge(logLayer)
  )
  const runtime = ManagedRuntime.make(layer)
  return { runtime, logs }
}

/** The dashboard's URL, as the route logs it. */
const dashboardUrl = (logs: CapturedLogs) => String(logs.of(Events.dashboardListening)[0]?.annotations.url)

/** The task ID in a `local-direct-dispatch/<queue>/<id>` name: the page's Task column. */
const idOf = (name: string) => name.split("/").pop()!

describe.skipIf(!browserTestsRun)("the in-process queue's dashboard in a headless browser", () => {
  const ran: Array<{ readonly path: string; readonly payload: unknown }> = []
  let client: ReturnType<typeof start>
  let url: string
  let browser: Browser
  let page: Page
  /** Requests the page made to anything but the dashboard. */
  let foreign: ReadonlyArray<string>

  const run = <A, E>(effect: Effect.Effect<A, E, TasksClient>) => client.runtime.runPromise(effect)
  const row = (name: string) => page.locator(`tr[data-task$="/tasks/${idOf(name)}"]`)
  const stateOf = (name: string) => row(name).locator("[data-task-state]")
  const ranOn = (path: string) => ran.filter((entry) => entry.path === path)

  beforeAll(async () => {
    client = start(ran)
    await client.runtime.runtime()
    url = dashboardUrl(client.logs)
    ;({ browser, foreign, page } = await openPage(new URL(url).host))
  })

  afterAll(async () => {
    await browser?.close()
    await client?.runtime.dispose()
  })

  it("loads from the port the route logs, on 127.0.0.1, and shows the default queue", async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
    await page.goto(url)
    await page.locator("body[data-loaded=true]").waitFor()
    expect(await page.locator("h1").textContent()).toBe("In-process task queue")
    const card = page.locator(`[data-queue="${DEFAULT_QUEUE}"]`)
    await expect.poll(() => card.locator("[data-queue-state]").textContent()).toBe("RUNNING")
    await expect.poll(() => page.locator("#live").getAttribute("class")).toBe("live on")
  })

  it("shows a task enqueued through the library, without a reload, with its handler's failed attempts and why they failed", async () => {
    const info = await run(enqueueHttpTask("/api/tasks/fail", { user: "ada" }, { queue: Fast }))
    await expect.poll(() => stateOf(info.name).textContent(), { timeout: 10_000 }).toBe("exhausted")
    await row(info.name).click()
    const details = page.locator(`tr[data-details$="/tasks/${idOf(info.name)}"]`)
    await expect.poll(() => details.locator("[data-attempt]").count()).toBe(3)
    const first = await details.locator('[data-attempt="1"]').textContent()
    expect(first).toContain("Attempt 1: HTTP 500")
    expect(await details.locator('[data-attempt="1"] [data-detail]').textContent()).toContain("the handler failed")
    expect(first).toContain("X-CloudTasks-TaskRetryCount0")
    expect(first).toContain('{"user":"ada"}')
    expect(await details.locator('[data-attempt="3"]').textContent()).toContain("X-CloudTasks-TaskRetryCount2")
    expect(ranOn("/api/tasks/fail")).toHaveLength(3)
    const card = page.locator('[data-queue$="/queues/dashboard"]')
    expect(await card.textContent()).toContain("3 attempts, backoff 20 ms to 50 ms")
    expect(await page.content()).not.toContain(SECRET)
  })

  it("'Run now' runs a scheduled task's handler at once", async () => {
    const info = await run(enqueueHttpTask("/api/tasks/ok", { n: 1 }, { delay: "1 hour" }))
    await expect.poll(() => stateOf(info.name).textContent()).toBe("scheduled")
    await row(info.name).locator('[data-action="run-now"]').click()
    await expect.poll(() => stateOf(info.name).textContent()).toBe("succeeded")
    expect(ranOn("/api/tasks/ok").map((entry) => entry.payload)).toEqual([{ n: 1 }])
  })

  it("'Delete' cancels a task before it runs: its handler never runs, drain does not wait for it", async () => {
    const info = await run(enqueueHttpTask("/api/tasks/ok", { n: 2 }, { delay: "1 hour" }))
    await expect.poll(() => stateOf(info.name).textContent()).toBe("scheduled")
    await row(info.name).locator('[data-action="delete"]').click()
    await expect.poll(() => stateOf(info.name).textContent()).toBe("deleted")
    await run(drain)
    const cancel = await run(Effect.either(cancelTask(info.name)))
    expect(Either.isLeft(cancel) && cancel.left._tag === "CancelError" && cancel.left.reason).toBe("not_found")
    expect(client.logs.of(Events.taskCancelled).map((entry) => entry.annotations.name)).toContain(info.name)
    expect(ranOn("/api/tasks/ok").map((entry) => entry.payload)).not.toContainEqual({ n: 2 })
  })

  it("'Pause' holds the queue's tasks (drain says so rather than hang), 'Resume' runs them, 'Replay' runs a finished one again", async () => {
    const card = page.locator(`[data-queue="${DEFAULT_QUEUE}"]`)
    await card.locator('[data-action="pause"]').click()
    await expect.poll(() => card.locator("[data-queue-state]").textContent()).toBe("PAUSED")
    const held = await run(enqueueHttpTask("/api/tasks/ok", { n: 3 }))
    await expect.poll(() => stateOf(held.name).textContent()).toBe("due")
    await run(drain)
    expect(client.logs.of(Events.drainGaveUp).map((entry) => entry.annotations)).toContainEqual(
      expect.objectContaining({ name: held.name, reason: "queue_paused" })
    )
    expect(ranOn("/api/tasks/ok").map((entry) => entry.payload)).not.toContainEqual({ n: 3 })
    await card.locator('[data-action="resume"]').click()
    await expect.poll(() => card.locator("[data-queue-state]").textContent()).toBe("RUNNING")
    await expect.poll(() => stateOf(held.name).textContent()).toBe("succeeded")
    expect(ranOn("/api/tasks/ok").map((entry) => entry.payload)).toContainEqual({ n: 3 })

    const before = ranOn("/api/tasks/ok").length
    await row(held.name).locator('[data-action="replay"]').click()
    await expect.poll(() => ranOn("/api/tasks/ok").length).toBe(before + 1)
    expect(ranOn("/api/tasks/ok").at(-1)!.payload).toEqual({ n: 3 })
    await expect.poll(() => page.locator('tr[data-state="succeeded"]').count()).toBeGreaterThanOrEqual(3)

    expect(foreign).toEqual([])
    await page.screenshot({ path: artifactPath("local-dashboard.png"), fullPage: true })
    expect(existsSync(artifactPath("local-dashboard.png"))).toBe(true)
  })
})
