/**
 * The official `@google-cloud/tasks` client, loaded on first use (it is an optional peer
 * dependency) and pointed at Cloud Tasks, or at an emulator over plaintext gRPC when
 * `CLOUD_TASKS_EMULATOR_HOST` is set. The cloud route and queue provisioning share it.
 */
import type * as CloudTasks from "@google-cloud/tasks"
import { Effect, Option } from "effect"
import { createRequire } from "node:module"
import { ImportError } from "../Errors.js"
import type { TasksConfigShape } from "../TasksConfig.js"

/** A client and the `Task` proto type of the module it came from. */
export interface LoadedClient {
  readonly client: CloudTasks.v2.CloudTasksClient
  readonly Task: typeof CloudTasks.protos.google.cloud.tasks.v2.Task
}

/**
 * Loads `moduleName` (default `@google-cloud/tasks`) and creates a client; `what` says
 * who needs it, for the `ImportError`'s message.
 */
export const loadCloudClient = (
  config: TasksConfigShape,
  what: string,
  options: { readonly clientOptions?: Readonly<Record<string, unknown>> | undefined; readonly moduleName?: string | undefined }
) =>
  Effect.gen(function*() {
    const moduleName = options.moduleName ?? "@google-cloud/tasks"
    const require = createRequire(import.meta.url)
    const module = yield* Effect.try({
      try: () => {
        const path = require.resolve(moduleName)
        return { path, tasks: require(path) as typeof CloudTasks }
      },
      catch: (cause) =>
        new ImportError({
          message: `${what} needs ${moduleName}, which could not be loaded. Install it with: npm install ${moduleName}`,
          module: moduleName,
          cause
        })
    })
    const client = yield* Effect.try(() => {
      const emulator = Option.map(config.emulatorHost, ({ host, port }) => {
        const gax = createRequire(module.path)("google-gax") as typeof import("google-gax")
        // An explicit universe domain keeps google-auth-library from asking the
        // GCE metadata server (a network call) before the first request.
        return {
          servicePath: host,
          port,
          sslCreds: gax.grpc.credentials.createInsecure(),
          universeDomain: "googleapis.com"
        }
      })
      return new module.tasks.CloudTasksClient({ ...options.clientOptions, ...Option.getOrUndefined(emulator) })
    })
    return { client, Task: module.tasks.protos.google.cloud.tasks.v2.Task } satisfies LoadedClient
  })

/** The gRPC status code of a client error, if it has one. */
export const grpcCode = (error: unknown): number | undefined => {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === "number" ? code : undefined
}

/** What a client error says: its details, or the error itself. */
export const errorText = (error: unknown): string => {
  const details = (error as { details?: unknown } | null)?.details
  return typeof details === "string" && details !== "" ? details : String(error)
}
