/**
 * A queue's RateLimits: maxDispatchesPerSecond as a token bucket and maxConcurrentDispatches.
 * Timing bounds are deliberately loose (the machine is shared); the assertions are about what a
 * user would notice: a burst is spread out, no more requests run at once than allowed.
 */
import type { CloudTasksClient } from "@google-cloud/tasks"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { CloudTasksEmulator, type RunningCloudTasksEmulator } from "../../src/CloudTasksEmulator.js"
import { createQueue } from "../utils/emulator.js"
import { makeClient } from "../utils/emulatorClient.js"
import { startTarget } from "../utils/emulatorTarget.js"

let emulator: RunningCloudTasksEmulator
let client: CloudTasksClient

beforeAll(async () => {
  emulator = await CloudTasksEmulator.start()
  client = makeClient(emulator.host)
})

afterAll(async () => {
  await client.close()
  await emulator.stop()
})

/** Creates `count` tasks on a paused queue, then resumes it so they are all due at once. */
const burst = async (queue: string, url: string, count: number) => {
  await client.pauseQueue({ name: queue })
  for (let i = 0; i < count; i++) {
    await client.createTask({ parent: queue, task: { httpRequest: { url: `${url}/t${i}` } } })
  }
  const resumedAt = Date.now()
  await client.resumeQueue({ name: queue })
  return resumedAt
}

describe("maxDispatchesPerSecond", () => {
  it("spreads a burst out at the configured rate", async () => {
    const target = await startTarget()
    try {
      const queue = await createQueue(client, undefined, { rateLimits: { maxDispatchesPerSecond: 40 } })
      const [stored] = await client.getQueue({ name: queue })
      expect(stored.rateLimits?.maxDispatchesPerSecond).toBe(40)
      const burstSize = stored.rateLimits!.maxBurstSize!
      expect(burstSize).toBeGreaterThanOrEqual(1)

      const count = 50
      const resumedAt = await burst(queue, target.url, count)
      const received = await target.waitFor(count, 15_000)
      const elapsed = received[count - 1]!.receivedAt - resumedAt
      // (50 - burst) tokens at 40/s take at least ~1 s; a loose upper bound catches a stall.
      expect(elapsed).toBeGreaterThanOrEqual(((count - burstSize) / 40) * 1000 * 0.9)
      expect(elapsed).toBeLessThan(8_000)
      // Within the first half second, at most the burst plus half a second of tokens (and slack).
      const early = received.filter((request) => request.receivedAt - resumedAt < 500).length
      expect(early).toBeLessThanOrEqual(burstSize + 20 + 3)
    } finally {
      await target.close()
    }
  })

  it("follows an UpdateQueue of the rate", async () => {
    const target = await startTarget()
    try {
      const queue = await createQueue(client, undefined, { rateLimits: { maxDispatchesPerSecond: 500 } })
      const [updated] = await client.updateQueue({
        queue: { name: queue, rateLimits: { maxDispatchesPerSecond: 10 } },
        updateMask: { paths: ["rate_limits.max_dispatches_per_second"] }
      })
      expect(updated.rateLimits?.maxDispatchesPerSecond).toBe(10)
      const resumedAt = await burst(queue, target.url, 8)
      const received = await target.waitFor(8, 10_000)
      // burst of 2 at 10/s: the last of 8 needs ~0.6 s of refill.
      expect(received[7]!.receivedAt - resumedAt).toBeGreaterThanOrEqual(450)
    } finally {
      await target.close()
    }
  })
})

describe("maxConcurrentDispatches", () => {
  it("never has more requests in flight than allowed", async () => {
    const target = await startTarget(() => ({ status: 200, delayMs: 100 }))
    try {
      const queue = await createQueue(client, undefined, { rateLimits: { maxConcurrentDispatches: 2 } })
      const resumedAt = await burst(queue, target.url, 8)
      const received = await target.waitFor(8)
      await emulator.waitForAttempts(8, { queue })
      expect(target.maxInFlight()).toBe(2)
      // 8 requests of 100 ms, two at a time: at least 4 rounds.
      expect(received[7]!.receivedAt - resumedAt).toBeGreaterThanOrEqual(300)
    } finally {
      await target.close()
    }
  })

  it("with one at a time, delivers in creation order", async () => {
    const target = await startTarget(() => ({ status: 200, delayMs: 5 }))
    try {
      const queue = await createQueue(client, undefined, { rateLimits: { maxConcurrentDispatches: 1 } })
      await burst(queue, target.url, 10)
      const received = await target.waitFor(10)
      expect(received.map((request) => request.path)).toEqual(Array.from({ length: 10 }, (_, i) => `/t${i}`))
      expect(target.maxInFlight()).toBe(1)
    } finally {
      await target.close()
    }
  })
})
