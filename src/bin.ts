#!/usr/bin/env node
/**
 * The `effect-http-tasks` command.
 *
 * ```
 * effect-http-tasks emulator [--port 8123] [--queue projects/p/locations/l/queues/q]... [--from ./dist/queues.js]
 * effect-http-tasks queues sync --from ./dist/queues.js [--dry-run]
 * ```
 *
 * @since 0.1.0
 */
import { parseArgs } from "node:util"
import type { TaskQueue } from "./TaskQueue.js"

const USAGE = `Usage: effect-http-tasks <command> [options]

Commands:
  emulator   Run the Cloud Tasks emulator until interrupted (Ctrl-C): gRPC, REST (/v2/...)
             and the dashboard (/) on one port.
             --port N                   port on 127.0.0.1 (default: a free port)
             --queue NAME               create the queue projects/<p>/locations/<l>/queues/<q> (repeatable)
             --from MODULE              create the queues defined (defineQueue) in a module, with their
                                        settings, in GOOGLE_CLOUD_PROJECT / TASKS_LOCATION (and
                                        TASKS_QUEUE, the default queue, when it is set), as queues sync does
             --app-engine-target URL    where App Engine tasks go (default: http://127.0.0.1:8080)
  queues sync
             Create or update the queues defined (defineQueue) in a module, in
             GOOGLE_CLOUD_PROJECT / TASKS_LOCATION (CLOUD_TASKS_EMULATOR_HOST for an
             emulator); print what differs. Never deletes a queue.
             --from MODULE   the JavaScript module whose exports include the queues
             --dry-run       print what would change, change nothing
`

/** A subcommand: receives its own arguments, resolves with the exit code. */
type Command = (args: ReadonlyArray<string>) => Promise<number>

class UsageError extends Error {}

const parsePort = (value: string | undefined): number => {
  if (value === undefined) return 0
  const port = Number(value)
  if (!/^\d+$/.test(value) || port > 65535) throw new UsageError(`--port must be a port number, got "${value}"`)
  return port
}

/** Whether `value` is a queue defined with `defineQueue`. */
const isQueue = (value: unknown): value is TaskQueue =>
  typeof value === "object" && value !== null && typeof (value as { id?: unknown }).id === "string" &&
  typeof (value as { settings?: unknown }).settings === "object"

/** The queues defined (defineQueue) among the exports of the module `from`; none is a usage error. */
const loadQueues = async (from: string): Promise<ReadonlyArray<TaskQueue>> => {
  const { pathToFileURL } = await import("node:url")
  const { resolve } = await import("node:path")
  const exported = await import(pathToFileURL(resolve(from)).href) as Record<string, unknown>
  const definitions = Object.values(exported).filter(isQueue)
  if (definitions.length === 0) throw new UsageError(`${from} exports no queue defined with defineQueue`)
  return definitions
}

/**
 * The queues of `emulator --from`: those the module defines and the default queue
 * (`TASKS_QUEUE`, when set and not defined there), in `GOOGLE_CLOUD_PROJECT` / `TASKS_LOCATION`,
 * read through effect's `Config` as the library reads them.
 */
const definedQueues = async (from: string) => {
  const definitions = await loadQueues(from)
  const { Config, Effect, Option } = await import("effect")
  const where = await Effect.runPromise(Effect.either(Config.all({
    project: Config.nonEmptyString("GOOGLE_CLOUD_PROJECT"),
    location: Config.nonEmptyString("TASKS_LOCATION"),
    queue: Config.option(Config.nonEmptyString("TASKS_QUEUE"))
  })))
  if (where._tag === "Left") {
    throw new UsageError("emulator --from needs GOOGLE_CLOUD_PROJECT and TASKS_LOCATION, where the queues are created")
  }
  const { location, project, queue } = where.right
  const fallback = Option.filter(queue, (id) => !definitions.some((definition) => definition.id === id))
  const queues: ReadonlyArray<TaskQueue> = [...definitions, ...Option.toArray(Option.map(fallback, (id) => ({ id, settings: {} })))]
  return { project, location, queues }
}

const emulator: Command = async (args) => {
  let port: number
  let queues: ReadonlyArray<string>
  let appEngineTarget: string | undefined
  let from: string | undefined
  try {
    const { values } = parseArgs({
      args: [...args],
      options: {
        port: { type: "string" },
        queue: { type: "string", multiple: true },
        from: { type: "string" },
        "app-engine-target": { type: "string" }
      },
      strict: true,
      allowPositionals: false
    })
    port = parsePort(values.port)
    queues = values.queue ?? []
    from = values.from
    appEngineTarget = values["app-engine-target"]
    if (appEngineTarget !== undefined && !/^https?:\/\//.test(appEngineTarget)) {
      throw new UsageError(`--app-engine-target must be an http(s) URL, got "${appEngineTarget}"`)
    }
  } catch (error) {
    throw error instanceof UsageError ? error : new UsageError(error instanceof Error ? error.message : String(error))
  }

  const defined = from === undefined ? { queues: [] } : await definedQueues(from)
  // Loaded here, not at the top, so that usage errors answer without loading the emulator.
  const { CloudTasksEmulator } = await import("./CloudTasksEmulator.js")
  const running = await CloudTasksEmulator.start({
    port,
    queues: [...queues, ...defined.queues],
    ...("project" in defined ? { project: defined.project, location: defined.location } : {}),
    ...(appEngineTarget === undefined ? {} : { appEngineTarget }),
    onAttempt: (attempt) =>
      process.stdout.write(
        `attempt ${attempt.attempt} ${attempt.method} ${attempt.url} task=${attempt.task} ${
          attempt.status !== undefined ? `status=${attempt.status}` : `error=${JSON.stringify(attempt.error)}`
        }\n`
      )
  })
  process.stdout.write(`CLOUD_TASKS_EMULATOR_HOST=${running.host}\n`)
  process.stdout.write(`Dashboard: ${running.url}  REST: ${running.url}v2/\n`)
  process.stdout.write(`OIDC JWKS: ${running.jwksUri}\n`)
  for (const queue of queues) process.stdout.write(`queue: ${queue}\n`)
  if ("project" in defined) {
    for (const { id } of defined.queues) {
      process.stdout.write(`queue: projects/${defined.project}/locations/${defined.location}/queues/${id}\n`)
    }
  }

  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off("SIGINT", onSignal)
      process.off("SIGTERM", onSignal)
      resolve()
    }
    process.on("SIGINT", onSignal)
    process.on("SIGTERM", onSignal)
  })
  await running.stop()
  process.stdout.write("Cloud Tasks emulator stopped\n")
  return 0
}


const queues: Command = async (args) => {
  const [sub, ...rest] = args
  if (sub !== "sync") throw new UsageError(sub === undefined ? "queues needs a subcommand: sync" : `Unknown queues subcommand "${sub}"`)
  let from: string
  let dryRun: boolean
  try {
    const { values } = parseArgs({
      args: rest,
      options: { from: { type: "string" }, "dry-run": { type: "boolean" } },
      strict: true,
      allowPositionals: false
    })
    if (values.from === undefined) throw new UsageError("queues sync needs --from MODULE, the module that exports the queues")
    from = values.from
    dryRun = values["dry-run"] === true
  } catch (error) {
    throw error instanceof UsageError ? error : new UsageError(error instanceof Error ? error.message : String(error))
  }
  const definitions = await loadQueues(from)

  const { Effect, Logger, LogLevel } = await import("effect")
  const { ensureQueues, TasksConfig } = await import("./index.js")
  const report = await Effect.runPromise(
    ensureQueues(definitions, { dryRun }).pipe(
      Effect.provide(TasksConfig.layer),
      Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)),
      Effect.either
    )
  )
  if (report._tag === "Left") {
    process.stderr.write(`${report.left.message}\n`)
    return 1
  }
  for (const { action, changes, queue } of report.right) {
    process.stdout.write(`${action.padEnd(9)} ${queue}\n`)
    for (const { from, setting, to } of changes) process.stdout.write(`          ${setting}: ${from} -> ${to}\n`)
  }
  if (dryRun) process.stdout.write("dry run: nothing was changed\n")
  return 0
}

const COMMANDS: Readonly<Record<string, Command>> = { emulator, queues }

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const [name, ...rest] = argv
  if (name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(USAGE)
    return 0
  }
  const command = name === undefined ? undefined : COMMANDS[name]
  if (command === undefined) {
    process.stderr.write(`${name === undefined ? "No command given" : `Unknown command "${name}"`}\n\n${USAGE}`)
    return 2
  }
  try {
    return await command(rest)
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\n${USAGE}`)
      return 2
    }
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
    return 1
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`)
    process.exitCode = 1
  }
)
