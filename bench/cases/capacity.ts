/**
 * B8: the emulator's capacity. Tasks created through the official client and
 * delivered to a local target, per second, against a bare Node process POSTing the
 * same bodies to the same target at the same concurrency. The emulator, the target
 * and the load generator each run in a process of their own.
 */
import { performance } from "node:perf_hooks"
import { countingTarget, emulatorChild, loadGenerator } from "../children.js"
import { body, headers, officialClient, rawTask } from "../cloud.js"
import { pairsOf, pool, repeat, time } from "../harness.js"
import { size } from "../options.js"
import { report } from "../report.js"

const concurrency = 32
/**
 * A queue allows at most 500 dispatches/s (as Cloud Tasks); tasks spread over 8 of
 * them are limited by the emulator's own speed, never by a rate limit, and the 8
 * together deliver at most `concurrency` at once, as the baseline sends.
 */
const queues = Array.from({ length: 8 }, (_, i) => `projects/bench/locations/l/queues/capacity-${i}`)
const settings = { maxDispatchesPerSecond: 500, maxConcurrentDispatches: concurrency / queues.length }

export const capacityCase = async () => {
  const n = size(1000, 400)
  const target = await countingTarget()
  const emulator = await emulatorChild(queues, settings)
  const generator = loadGenerator()
  const client = officialClient(emulator.host)
  /** Requests the target has answered so far, by the count of both sides. */
  let expected = 0
  const collectAll = () => Promise.all([target.collect(), emulator.collect(), generator.collect()])
  const ours = async () => {
    await collectAll()
    const start = performance.now()
    const createdMs = await time(() =>
      pool(n, concurrency, (i) => client.createTask(rawTask(target.url, queues[i % queues.length])))
    )
    await target.received(expected += n)
    return { rate: (n / (performance.now() - start)) * 1000, created: (n / createdMs) * 1000 }
  }
  const baseline = async () => {
    await collectAll()
    const run = await generator.run({ url: target.url, headers, body, concurrency, count: n })
    await target.received(expected += n)
    const rate = (n / run.ms) * 1000
    return { rate, created: rate }
  }
  try {
    // The emulator is a fresh process: its JIT needs a few thousand tasks (measured:
    // 1,300 µs of its CPU per task over the first 600, 350 after 3,000).
    await repeat(size(8, 4), size(20, 6), async () => {
      await ours()
      await baseline()
    })
    const b8 = await pairsOf({ warmup: 0, min: 5, max: size(60, 40), seconds: size(30, 8) }, ours, baseline)
    report("B8", `emulator capacity, ${n} tasks created and delivered, tasks/s (vs bare POSTs/s)`, b8.rate, "higher", 0.5)
    report("B8c", "the same, tasks created/s alone (vs bare POSTs/s)", b8.created, "higher", null)
  } finally {
    await client.close()
    await generator.stop()
    await emulator.stop()
    await target.stop()
  }
}
