/**
 * B1–B3: enqueueing through the emulator, ours against the official client used by
 * hand. The emulator runs in a process of its own with its queue paused (creation
 * only, no delivery), emptied after every side.
 */
import { Effect, Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import { enqueueHttpTask, enqueueHttpTasks, TasksClient } from "effect-http-tasks"
import { emulatorProcess, officialClient, payload, QUEUE, rawTask, secret } from "../cloud.js"
import { pairs, pairsOf, pool, repeat, time } from "../harness.js"
import { quick, size } from "../options.js"
import { report } from "../report.js"

/** Logs below Warning filtered out: the figures measure dispatch, not the application's log sink. */
export const quiet = Logger.minimumLogLevel(LogLevel.Warning)
/** Every event formatted as logfmt and discarded: the cost of structured logging without terminal I/O. */
const formattedButDiscarded = Logger.replace(Logger.defaultLogger, Logger.map(Logger.logfmtLogger, () => undefined))

/** `0 … n-1`, for driving `n` calls. */
export const range = (n: number) => Array.from({ length: n }, (_, i) => i)
/**
 * `n` calls of `f` one after the other, driven as the baselines are: by one sequential
 * `Effect.forEach` (`Effect.repeatN` would add a yield to the scheduler per call).
 */
export const times = <A, E, R>(n: number, f: () => Effect.Effect<A, E, R>) =>
  Effect.forEach(range(n), f, { discard: true })

const concurrency = 32

export const cloudCases = async () => {
  const emulator = await emulatorProcess()
  const client = officialClient(emulator.host)
  await client.pauseQueue({ name: QUEUE })
  const production = TasksClient.layerWith({
    appEnv: "production",
    project: "bench",
    location: "l",
    queue: "q",
    urlBase: "http://127.0.0.1:9",
    auth: secret,
    emulatorHost: emulator.host
  })
  const runtime = ManagedRuntime.make(Layer.provideMerge(production, quiet))
  const logging = ManagedRuntime.make(Layer.provideMerge(production, formattedButDiscarded))
  const purge = () => client.purgeQueue({ name: QUEUE })
  try {
    /** The raw client's call as an Effect: what any library on effect pays at least. */
    const asEffect = () => Effect.tryPromise(() => client.createTask(rawTask()))

    /**
     * `n` tasks enqueued `concurrency` at a time: ours, the raw client's, or the raw client's call
     * as an Effect (effect's floor), driven as ours is: tasks/s and client CPU µs per task.
     */
    const batch = (n: number, side: "ours" | "raw" | "floor") => {
      const tasks = Array.from({ length: n }, () => ({ path: "/api/tasks/transcribe", payload }))
      return async () => {
        const cpu = process.cpuUsage()
        const ms = await time(async () => {
          if (side === "raw") return pool(n, concurrency, () => client.createTask(rawTask()))
          if (side === "floor") {
            let next = 0
            const worker = Effect.whileLoop({ while: () => next++ < n, body: asEffect, step: () => {} })
            return Effect.runPromise(Effect.all(range(concurrency).map(() => worker), { concurrency, discard: true }))
          }
          const results = await runtime.runPromise(enqueueHttpTasks(tasks, { concurrency }))
          if (results.some((r) => r._tag === "Left")) throw new Error("a task failed in the batch")
        })
        const used = process.cpuUsage(cpu)
        await purge()
        return { rate: (n / ms) * 1000, cpu: (used.user + used.system) / n }
      }
    }
    // Both sides get the same long warm-up first: ours runs through effect's runtime,
    // which the JIT needs thousands of calls to optimise (measured: ours fell from 2.3
    // to 0.95 ms per sequential task over its first 3,000 calls; the raw client's
    // stayed near 0.9 ms throughout).
    await repeat(size(10, 5), size(30, 6), async () => {
      await batch(200, "ours")()
      await batch(200, "raw")()
    })

    // B1: sequential latency per task, in short pairs: a burst of a neighbour's load
    // then spoils a few pairs rather than one side of the result.
    const n1 = size(100, 40)
    /** Milliseconds per task of `n1` tasks one after the other, the queue emptied after. */
    const perTask = (run: () => Promise<unknown>) => async () => {
      const ms = await time(run)
      await purge()
      return ms / n1
    }
    const ours = (on: typeof runtime) => () =>
      on.runPromise(times(n1, () => enqueueHttpTask("/api/tasks/transcribe", payload)))
    // 13 s in --quick, about 100 pairs: with 80, two runs in a row once differed by 0.058.
    const b1 = await pairs(
      { warmup: 2, min: 5, max: size(300, 150), seconds: size(40, 13) },
      perTask(ours(runtime)),
      perTask(async () => {
        for (let i = 0; i < n1; i++) await client.createTask(rawTask())
      })
    )
    report("B1", "sequential enqueue latency per task, ms (vs raw createTask, one client)", b1, "lower", 1.05)
    if (!quick) {
      // Without a target, so left out of --quick.
      const b1l = await pairs(
        { warmup: 1, min: 5, max: 100, seconds: 15 },
        perTask(ours(logging)),
        perTask(ours(runtime))
      )
      report("B1l", "the same, every event formatted as logfmt, ms (vs logs below Warning filtered)", b1l, "lower", null)
      const b1e = await pairs(
        { warmup: 2, min: 5, max: 150, seconds: 20 },
        perTask(() => Effect.runPromise(times(n1, asEffect))),
        perTask(async () => {
          for (let i = 0; i < n1; i++) await client.createTask(rawTask())
        })
      )
      report("B1e", "effect's floor: the raw call as an Effect (Effect.tryPromise), ms (vs raw createTask)", b1e, "lower", null)
    }

    // B2: throughput of a batch with bounded concurrency (warmed up above)
    const n2 = size(1000, 300)
    const b2 = await pairsOf(
      { warmup: 0, min: 5, max: size(100, 60), seconds: size(40, 9) },
      batch(n2, "ours"),
      batch(n2, "raw")
    )
    report("B2", `throughput of ${n2} tasks, concurrency ${concurrency}, tasks/s (vs raw client)`, b2.rate, "higher", 0.95)
    report("B2c", "B2's client CPU per task, µs (vs raw client)", b2.cpu, "lower", null)
    if (!quick) {
      const b2e = await pairsOf({ warmup: 2, min: 5, max: 60, seconds: 20 }, batch(n2, "floor"), batch(n2, "raw"))
      report("B2e", "effect's floor: B2 with the raw call as an Effect, tasks/s (vs raw client)", b2e.rate, "higher", null)
    }

    // B3: a batch against a new client per task, as the original design did
    const n3 = size(300, 100)
    const b3 = await pairs(
      // Two pairs at least, one in each order: the side that goes second in a pair gets
      // only a young-generation collection, and a new client per task leaves much garbage.
      { warmup: 0, min: 2, max: size(6, 2), seconds: size(20, 0) },
      async () => (await batch(n3, "ours")()).rate,
      async () => {
        const ms = await time(() =>
          pool(n3, concurrency, async () => {
            const perTask = officialClient(emulator.host)
            await perTask.createTask(rawTask())
            await perTask.close()
          })
        )
        await purge()
        return (n3 / ms) * 1000
      }
    )
    report("B3", `throughput of ${n3} tasks, tasks/s (vs a new client per task)`, b3, "higher", null)
  } finally {
    await runtime.dispose()
    await logging.dispose()
    await client.close()
    await emulator.stop()
  }
}
