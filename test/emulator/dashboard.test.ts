/**
 * The emulator's dashboard in a real headless browser (Debian's `chromium`, driven by
 * playwright-core): the page loads from the emulator's port alone, a task enqueued through the
 * library appears without a reload, its failed attempts show with status and headers (the
 * secret masked), and "Run now", "Delete", "Pause"/"Resume" and "Replay" act on the emulator. A
 * screenshot is kept in `test-artifacts/dashboard.png`.
 *
 * `.ci/run` installs chromium; elsewhere the test is skipped when no browser is found (set
 * `CHROMIUM_PATH` to use another one). In CI a missing browser fails the test.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type Duration, Effect, Layer } from "effect"
import { existsSync } from "node:fs"
import type { Browser, Page } from "playwright-core"
import { CloudTasksEmulator, type RunningCloudTasksEmulator } from "../../src/CloudTasksEmulator.js"
import { enqueueHttpTask, TaskHandlers, TasksClient } from "../../src/index.js"
import { artifactPath, browserTestsRun, openPage } from "../utils/browser.js"
import { startTarget, type Target } from "../utils/emulatorTarget.js"

const QUEUE = "projects/demo/locations/us-central1/queues/dashboard"
const SECRET = "dashboard-secret-value-42"

let emulator: RunningCloudTasksEmulator
let target: Target
let browser: Browser
let page: Page
/** Requests the page made to anything but the emulator. */
let foreign: ReadonlyArray<string>

/** Enqueues through the library (the cloud route, the official client, the emulator). */
const enqueue = (path: string, payload: unknown, options: { readonly delay?: Duration.DurationInput } = {}) =>
  Effect.runPromise(
    enqueueHttpTask(path, payload, options.delay === undefined ? {} : { delay: options.delay }).pipe(
      Effect.provide(
        Layer.provide(
          TasksClient.layerWith({
            appEnv: "production",
            project: "demo",
            location: "us-central1",
            queue: "dashboard",
            urlBase: target.url,
            auth: SECRET,
            emulatorHost: emulator.host
          }),
          TaskHandlers.layer({})
        )
      )
    )
  )

const row = (name: string) => page.locator(`tr[data-task="${name}"]`)
const stateOf = (name: string) => row(name).locator("[data-task-state]")

describe.skipIf(!browserTestsRun)("the dashboard in a headless browser", () => {
  beforeAll(async () => {
    target = await startTarget((request) => (request.path === "/api/tasks/fail" ? 503 : 200))
    emulator = await CloudTasksEmulator.start({
      queues: [QUEUE],
      queueSettings: { maxAttempts: 3, minBackoff: "20 millis", maxBackoff: "50 millis" }
    })
    ;({ browser, foreign, page } = await openPage(emulator.host))
  })

  afterAll(async () => {
    await browser?.close()
    await emulator?.stop()
    await target?.close()
  })

  it("loads from the emulator's port and shows the queue with its settings", async () => {
    await page.goto(emulator.url)
    await page.locator("body[data-loaded=true]").waitFor()
    const card = page.locator(`[data-queue="${QUEUE}"]`)
    await expect.poll(() => card.locator("[data-queue-state]").textContent()).toBe("RUNNING")
    expect(await card.textContent()).toContain("3 attempts, backoff 20 ms to 50 ms")
    await expect.poll(() => page.locator("#live").getAttribute("class")).toBe("live on")
  })

  it("shows a task enqueued through the library, without a reload, with its failed attempts and the secret masked", async () => {
    const info = await enqueue("/api/tasks/fail", { user: "ada" })
    await expect.poll(() => stateOf(info.name).textContent(), { timeout: 10_000 }).toBe("exhausted")
    await row(info.name).click()
    const details = page.locator(`tr[data-details="${info.name}"]`)
    await expect.poll(() => details.locator("[data-attempt]").count()).toBe(3)
    const first = await details.locator('[data-attempt="1"]').textContent()
    expect(first).toContain("Attempt 1: HTTP 503")
    expect(first).toContain("X-CloudTasks-TaskRetryCount")
    expect(first).toContain('{"user":"ada"}')
    expect(await details.locator('[data-attempt="3"]').textContent()).toContain("X-CloudTasks-TaskPreviousResponse503")
    const html = await page.content()
    expect(html).not.toContain(SECRET)
    expect(await details.textContent()).toContain("X-Tasks-Auth••••••••")
  })

  it("'Run now' delivers a scheduled task at once", async () => {
    const info = await enqueue("/api/tasks/later", { n: 1 }, { delay: "1 hour" })
    await expect.poll(() => stateOf(info.name).textContent()).toBe("scheduled")
    await row(info.name).locator('[data-action="run-now"]').click()
    await expect.poll(() => stateOf(info.name).textContent()).toBe("succeeded")
    expect(target.requests.some((request) => request.path === "/api/tasks/later")).toBe(true)
  })

  it("'Delete' removes a task before it runs", async () => {
    const info = await enqueue("/api/tasks/never", { n: 2 }, { delay: "1 hour" })
    await expect.poll(() => stateOf(info.name).textContent()).toBe("scheduled")
    await row(info.name).locator('[data-action="delete"]').click()
    expect((await emulator.waitForTask(info.name)).result).toBe("deleted")
    await expect.poll(() => stateOf(info.name).textContent()).toBe("deleted")
    expect(target.requests.some((request) => request.path === "/api/tasks/never")).toBe(false)
  })

  it("'Pause' and 'Resume' act on the queue; 'Replay' runs a finished task again from its recorded body", async () => {
    const card = page.locator(`[data-queue="${QUEUE}"]`)
    await card.locator('[data-action="pause"]').click()
    await expect.poll(() => card.locator("[data-queue-state]").textContent()).toBe("PAUSED")
    const state = await fetch(`${emulator.url}v2/${QUEUE}`).then((response) => response.json() as Promise<{ state: string }>)
    expect(state.state).toBe("PAUSED")
    await card.locator('[data-action="resume"]').click()
    await expect.poll(() => card.locator("[data-queue-state]").textContent()).toBe("RUNNING")

    const info = await enqueue("/api/tasks/once", { replay: "me" })
    await expect.poll(() => stateOf(info.name).textContent()).toBe("succeeded")
    const before = target.requests.filter((request) => request.path === "/api/tasks/once").length
    await row(info.name).locator('[data-action="replay"]').click()
    await expect.poll(() => target.requests.filter((request) => request.path === "/api/tasks/once").length).toBe(before + 1)
    const replayed = target.requests.filter((request) => request.path === "/api/tasks/once").at(-1)!
    expect(replayed.body.toString()).toBe('{"replay":"me"}')
    expect(replayed.headers["X-CloudTasks-TaskName"]).not.toBe(info.name.split("/").pop())

    expect(foreign).toEqual([])
    await page.screenshot({ path: artifactPath("dashboard.png"), fullPage: true })
    expect(existsSync(artifactPath("dashboard.png"))).toBe(true)
  })
})

describe("the dashboard's state and actions over HTTP", () => {
  let running: RunningCloudTasksEmulator
  beforeAll(async () => {
    running = await CloudTasksEmulator.start({ queues: [QUEUE] })
  })
  afterAll(() => running.stop())

  const post = (op: string, name: string) =>
    fetch(`${running.url}_dashboard/action?op=${op}&name=${encodeURIComponent(name)}`, { method: "POST" })
      .then(async (response) => ({ status: response.status, body: (await response.json()) as any }))

  it("masks X-Tasks-Auth and Authorization in the state it serves; 'purge' empties the queue", async () => {
    await post("pause", QUEUE)
    const create = (i: number) =>
      fetch(`${running.url}v2/${QUEUE}/tasks`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          task: { httpRequest: { url: "http://127.0.0.1:9/x", headers: { "X-Tasks-Auth": SECRET, Authorization: `Bearer ${SECRET}`, "X-Other": `v${i}` } } }
        })
      })
    await Promise.all([create(1), create(2)])
    const text = await fetch(`${running.url}_dashboard/state`).then((response) => response.text())
    expect(text).not.toContain(SECRET)
    const state = JSON.parse(text)
    expect(state.tasks.map((task: any) => task.state)).toEqual(["due", "due"])
    expect(state.tasks[0].headers).toEqual(expect.arrayContaining([["X-Tasks-Auth", "••••••••"], ["Authorization", "••••••••"]]))
    expect(state.queues[0]).toMatchObject({ name: QUEUE, state: "PAUSED", counts: { due: 2 } })

    expect(await post("purge", QUEUE)).toEqual({ status: 200, body: { name: QUEUE } })
    const after = await fetch(`${running.url}_dashboard/state`).then((response) => response.json() as Promise<any>)
    expect(after.tasks.map((task: any) => task.state)).toEqual(["deleted", "deleted"])
  })

  it("refuses an action posted by a page of another origin", async () => {
    await post("pause", QUEUE)
    const response = await fetch(`${running.url}_dashboard/action?op=resume&name=${encodeURIComponent(QUEUE)}`, {
      method: "POST",
      headers: { origin: "https://attacker.example" }
    })
    expect(response.status).toBe(403)
    expect(((await response.json()) as any).error.status).toBe("PERMISSION_DENIED")
    const state = await fetch(`${running.url}_dashboard/state`).then((response) => response.json() as Promise<any>)
    expect(state.queues[0].state).toBe("PAUSED")
  })

  it("answers an unknown action or task with Google's JSON error", async () => {
    expect(await post("explode", QUEUE)).toMatchObject({ status: 400, body: { error: { status: "INVALID_ARGUMENT" } } })
    expect(await post("replay", `${QUEUE}/tasks/never`)).toMatchObject({
      status: 404,
      body: { error: { status: "NOT_FOUND", message: "Requested entity was not found." } }
    })
  })
})
