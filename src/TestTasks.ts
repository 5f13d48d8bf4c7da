/**
 * A test kit for code that enqueues tasks, exported from `effect-http-tasks/testing`.
 *
 * {@link TestTasks.layer} provides a `TasksClient` that records every task instead of
 * dispatching it. Each enqueue is validated and routed exactly as the real client does
 * (a bad path, payload or option, or a path with no handler, fails the same way), and
 * returns a name in the style of the route configuration chose; then the task is kept:
 * its path, payload, options, queue and route ({@link TestTasks.recorded}). A test runs
 * the recorded tasks through their handlers when it wants ({@link TestTasks.runAll}),
 * with the outcomes of a real queue: the in-process queue of the local route runs them,
 * each with its queue's settings, so a `NonRetryableError` drops the task, a
 * `RetryAfterError` or any other failure is retried by the queue's backoff until its
 * attempts are used up, and the handler sees in `TaskContext` what Cloud Tasks would send.
 * The queue's time is the kit's own: it jumps from one due attempt to the next, so retries
 * an hour apart take no time and need no `TestClock`.
 *
 * @example
 * ```ts
 * import { TestTasks } from "effect-http-tasks/testing"
 *
 * it.effect("signup sends a welcome e-mail", () =>
 *   Effect.gen(function*() {
 *     yield* signup("ada@example.com")
 *     const [task] = yield* TestTasks.recorded
 *     expect(task).toMatchObject({ path: "/api/tasks/welcome", payload: { to: "ada@example.com" } })
 *     const [ran] = yield* TestTasks.runAll
 *     expect(ran).toMatchObject({ state: "succeeded", attempts: 1 })
 *   }).pipe(Effect.provide(TestTasks.layer.pipe(Layer.provide(Handlers)))))
 * ```
 *
 * @since 0.1.0
 */
import { Context, type Duration, Effect, Layer } from "effect"
import { CloudTasksRoute } from "./CloudTasksRoute.js"
import { DryRunRoute } from "./DryRunRoute.js"
import type { ConfigError, DispatchError, Route } from "./Errors.js"
import { makeTestKit } from "./internal/testKit.js"
import { LocalRoute } from "./LocalRoute.js"
import { LoopbackRoute } from "./LoopbackRoute.js"
import { TaskHandlers } from "./TaskHandlers.js"
import { TasksClient } from "./TasksClient.js"
import { TasksConfig, type TasksConfigInput, type TasksConfigShape } from "./TasksConfig.js"
import { WorkerRoute } from "./WorkerRoute.js"

/**
 * Where a recorded task is: `enqueued` (not run yet), or how its run by
 * {@link TestTasks.runAll} ended: `succeeded`, `dropped` (its handler failed with
 * `NonRetryableError`), `exhausted` (it failed as many times as its queue allows),
 * `cancelled` (`cancelTask`), or `abandoned` (its queue would still be retrying it past
 * the 31 days a Cloud Task may live, as with `maxAttempts: -1` and a handler that always fails).
 *
 * @since 0.1.0
 * @category models
 */
export type RecordedTaskState = "enqueued" | "succeeded" | "dropped" | "exhausted" | "cancelled" | "abandoned"

/**
 * The options of a recorded task, as the route received them: validated, a `delay`
 * turned into its `scheduleTime`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedOptions {
  /** The `dispatchDeadline` given (or the task definition's); `undefined` for the route's default. */
  readonly dispatchDeadline: Duration.Duration | undefined
  /** When the task is to run, from `scheduleTime` or `delay`; `undefined` for at once. */
  readonly scheduleTime: Date | undefined
  /** The `taskId` given. */
  readonly taskId: string | undefined
  /** The extra headers given. */
  readonly headers: Readonly<Record<string, string>>
}

/**
 * One enqueue, as {@link TestTasks.layer} recorded it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedTask {
  /**
   * The name the enqueue returned, in the style of its route: `local-direct-dispatch/<queue>/<id>`,
   * `projects/…/queues/<queue>/tasks/<id>`, `dry-run-<ISO>`, … `cancelTask` takes it.
   */
  readonly name: string
  /** The route configuration chose for the task (nothing was dispatched). */
  readonly route: Route
  /** The task path given to the enqueue. */
  readonly path: string
  /** The payload as its handler receives it: JSON, after a task definition's Schema encoding. */
  readonly payload: unknown
  /** The ID of the task's queue: the `queue` option's, the task definition's, or `TASKS_QUEUE` (`default` when unset). */
  readonly queue: string
  /** The options of the enqueue, validated. */
  readonly options: RecordedOptions
  /** Whether it still waits for {@link TestTasks.runAll}, or how its run ended. */
  readonly state: RecordedTaskState
  /** How many times {@link TestTasks.runAll} ran its handler. */
  readonly attempts: number
}

/**
 * The test kit's service.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestTasksShape {
  /** Every task recorded since the layer was built or last cleared, in the order of the enqueues. */
  readonly recorded: Effect.Effect<ReadonlyArray<RecordedTask>>
  /**
   * Runs the `enqueued` tasks through their handlers until each has ended (see
   * {@link TestTasks.runAll}); returns them, as they ended. Fails with the `DispatchError`
   * `no_handler`, and runs nothing, when a task's path has no handler to run it.
   */
  readonly runAll: Effect.Effect<ReadonlyArray<RecordedTask>, DispatchError>
  /** Forgets every recorded task. */
  readonly clear: Effect.Effect<void>
}

/** The kit over `config`: the client over recording routes, and the kit's service. */
const layerOver = <E>(config: Effect.Effect<TasksConfigShape, E>): Layer.Layer<TasksClient | TestTasks, E> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const resolved = yield* config
    const kit = makeTestKit(resolved, yield* Effect.serviceOption(TaskHandlers))
    const routes = Context.make(DryRunRoute, kit.routes.dryRun).pipe(
      Context.add(CloudTasksRoute, kit.routes.cloud),
      Context.add(LoopbackRoute, kit.routes.loopback),
      Context.add(WorkerRoute, kit.routes.worker),
      Context.add(LocalRoute, kit.routes.local),
      Context.add(TasksConfig, resolved)
    )
    return Layer.merge(
      TasksClient.layerWithoutRoutes.pipe(Layer.provide(Layer.succeedContext(routes))),
      Layer.succeed(TestTasks, kit.service)
    )
  }))

/**
 * The test kit: a `TasksClient` that records tasks, and the service to read, run and
 * clear them.
 *
 * @since 0.1.0
 * @category services
 */
export class TestTasks extends Context.Tag("effect-http-tasks/TestTasks")<TestTasks, TestTasksShape>() {
  /**
   * A `TasksClient` that records every task instead of dispatching it, and
   * {@link TestTasks}. Configuration is read as `TasksClient.layer` reads it, through
   * effect's `Config` (give a test its own with `ConfigProvider.fromMap`); it decides each
   * task's route and name, as it would in the application. Provide the application's
   * `TaskHandlers` to it for `runAll` to run them (and, as with the real client, for a
   * path without a handler to be refused). `drain` returns at once: nothing runs until
   * `runAll`.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<TasksClient | TestTasks, ConfigError> = layerOver(TasksConfig.fromConfig())

  /**
   * The same, with explicit configuration values (validated as `TasksClient.layerWith` validates them).
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerWith = (input: TasksConfigInput): Layer.Layer<TasksClient | TestTasks, ConfigError> =>
    layerOver(TasksConfig.make(input))

  /**
   * Every task recorded since the layer was built or last cleared, in the order of the enqueues.
   *
   * @since 0.1.0
   * @category accessors
   */
  static readonly recorded: Effect.Effect<ReadonlyArray<RecordedTask>, never, TestTasks> = Effect.flatMap(
    this,
    (kit) => kit.recorded
  )

  /**
   * Runs the recorded tasks that have not run yet through their handlers, each with its
   * queue's settings as the in-process queue runs it (`defineQueue`; Cloud Tasks' defaults
   * for a queue defined nowhere): retries with the queue's backoff (or as late as a
   * `RetryAfterError` asks), `delay` and `scheduleTime` honoured, `TaskContext` filled as
   * Cloud Tasks would. The queue's clock starts at the test's own time and moves straight to
   * each next attempt, so a run takes only the time its handlers take. Returns the tasks
   * run, as each ended (`state`, `attempts`). A task enqueued while they run (by a handler)
   * is recorded and left for the next `runAll`. Handlers run with the services of the fiber
   * that calls `runAll` (the kit's `TasksClient` among them) and on its clock: a handler that
   * sleeps under `TestClock` waits for the test to move it. A task whose path has no handler
   * fails the call with the `DispatchError` `no_handler`, before any task runs.
   *
   * @since 0.1.0
   * @category accessors
   */
  static readonly runAll: Effect.Effect<ReadonlyArray<RecordedTask>, DispatchError, TestTasks> = Effect.flatMap(
    this,
    (kit) => kit.runAll
  )

  /**
   * Forgets every recorded task.
   *
   * @since 0.1.0
   * @category accessors
   */
  static readonly clear: Effect.Effect<void, never, TestTasks> = Effect.flatMap(this, (kit) => kit.clear)
}
