/**
 * B5: in-process dispatch (the local route) against forking the same handler by
 * hand, logs below Warning filtered out in both; and the heap it keeps.
 */
import { Effect, Fiber, Layer, ManagedRuntime } from "effect"
import { drain, enqueueHttpTask, TaskHandlers, TasksClient } from "effect-http-tasks"
import { collect, pairs, single, time } from "../harness.js"
import { size } from "../options.js"
import { report } from "../report.js"
import { quiet, range, times } from "./cloud.js"

export const localCases = async () => {
  const n = size(10_000, 5_000)
  const handler = (_: unknown) => Effect.void
  const runtime = ManagedRuntime.make(
    TasksClient.layerWith({ appEnv: "dev" }).pipe(
      Layer.provide(TaskHandlers.layer({ "/noop": handler })),
      Layer.provideMerge(quiet)
    )
  )
  /** `count` tasks enqueued one after the other, then drained. */
  const enqueueAndDrain = (count: number) =>
    runtime.runPromise(Effect.zipRight(times(count, () => enqueueHttpTask("/noop", { n: 1 })), drain))
  /** In-process tasks run so far, once warm. */
  let tasks = 0
  const ours = async () => {
    tasks += n
    return (n / await time(() => enqueueAndDrain(n))) * 1000
  }
  const baseline = async () =>
    (n / await time(() =>
      Effect.runPromise(
        Effect.forEach(range(n), () => Effect.forkDaemon(handler({ n: 1 }))).pipe(
          Effect.flatMap(Fiber.awaitAll),
          Effect.provide(quiet)
        )
      )
    )) * 1000
  /** Heap in use after full collections, MiB. */
  const heap = () => {
    collect()
    collect()
    return process.memoryUsage().heapUsed / 2 ** 20
  }
  try {
    // Warmed up before the heap is first measured: compiled code takes heap too.
    for (let i = 0; i < 3; i++) {
      await ours()
      await baseline()
    }
    tasks = 0
    const before = heap()
    const b5 = await pairs({ warmup: 0, min: 5, max: size(200, 100), seconds: size(30, 6) }, ours, baseline)
    report("B5", `in-process dispatch of ${n} no-op tasks, tasks/s (vs Effect.forkDaemon)`, b5, "higher", 0.5)

    // What the tasks of B5 (at least 100,000 in a full run) leave behind.
    while (tasks < size(100_000, 0)) await ours()
    report(
      "B5h",
      `heap after ${tasks.toLocaleString("en-US")} in-process tasks and drain, MiB (vs before them)`,
      single(heap(), before),
      "lower",
      null
    )
  } finally {
    await runtime.dispose()
  }
}
