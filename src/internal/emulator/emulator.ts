/**
 * Starts the emulator: the OIDC issuer and its JWKS server, the engine, and the gRPC server on
 * 127.0.0.1. Stopping closes all three and leaves nothing running.
 *
 * @internal
 */
import * as net from "node:net"
import type { DeliveryAttempt, TaskOutcome } from "../../CloudTasksEmulator.js"
import { type AttemptFilter, Engine, type SettingsPatch } from "./engine.js"
import { type GrpcServer, loadGrpcRuntime } from "./grpcRuntime.js"
import { startOidcIssuer } from "./oidc.js"
import { cloudTasksHandlers } from "./service.js"

/** Resolved start options, durations in milliseconds. */
export interface ResolvedOptions {
  readonly port: number
  readonly queues: ReadonlyArray<string>
  readonly queueSettings: SettingsPatch
  readonly dedupWindowMs: number
  readonly queueReuseWindowMs: number
  readonly minDispatchDeadlineMs: number
  readonly oidcIssuer: string
  readonly jwksPort: number
  readonly attemptLogLimit: number
  readonly clock: () => number
  readonly onAttempt: ((attempt: DeliveryAttempt) => void) | undefined
}

/** A running emulator (the internal shape behind the public handle). */
export interface RunningEmulator {
  readonly host: string
  readonly port: number
  readonly issuer: string
  readonly jwksUri: string
  readonly engine: Engine
  readonly stop: () => Promise<void>
}

/**
 * Fails with EADDRINUSE when `port` is taken, before grpc-js tries (and logs its own error).
 */
const checkPortFree = (port: number): Promise<void> =>
  port === 0 ? Promise.resolve() : new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once("error", reject)
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve()))
  })

const bind = (server: GrpcServer, address: string, credentials: unknown): Promise<number> =>
  new Promise((resolve, reject) =>
    server.bindAsync(address, credentials, (error, port) => (error ? reject(error) : resolve(port)))
  )

const shutdown = (server: GrpcServer): Promise<void> =>
  new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown()
      resolve()
    }, 250)
    server.tryShutdown(() => {
      clearTimeout(force)
      resolve()
    })
  })

/** Starts an emulator. */
export const startEmulator = async (options: ResolvedOptions): Promise<RunningEmulator> => {
  const runtime = loadGrpcRuntime()
  const oidc = await startOidcIssuer({ issuer: options.oidcIssuer, port: options.jwksPort })
  const engine = new Engine({
    clock: options.clock,
    dedupWindowMs: options.dedupWindowMs,
    queueReuseWindowMs: options.queueReuseWindowMs,
    minDispatchDeadlineMs: options.minDispatchDeadlineMs,
    oidc,
    attemptLogLimit: options.attemptLogLimit,
    onAttempt: options.onAttempt
  })
  let server: GrpcServer | undefined
  try {
    for (const queue of options.queues) engine.ensureQueue(queue, options.queueSettings)
    await checkPortFree(options.port)
    server = new runtime.grpc.Server({ "grpc.max_receive_message_length": 16 * 1024 * 1024 })
    server.addService(runtime.cloudTasksService, cloudTasksHandlers(engine))
    const port = await bind(server, `127.0.0.1:${options.port}`, runtime.grpc.ServerCredentials.createInsecure())
    const grpcServer = server
    let stopping: Promise<void> | undefined
    const stop = () => {
      stopping ??= (async () => {
        engine.close()
        await Promise.all([shutdown(grpcServer), oidc.close()])
      })()
      return stopping
    }
    return { host: `127.0.0.1:${port}`, port, issuer: oidc.issuer, jwksUri: oidc.jwksUri, engine, stop }
  } catch (error) {
    engine.close()
    server?.forceShutdown()
    await oidc.close()
    throw error
  }
}

/** Waits for `count` attempts matching `filter`. */
export const waitForAttempts = async (
  engine: Engine,
  count: number,
  filter: AttemptFilter,
  timeoutMs: number
): Promise<ReadonlyArray<DeliveryAttempt>> => {
  await engine.waitUntil(
    () => engine.attempts(filter).length >= count,
    timeoutMs,
    () => `waiting for ${count} delivery attempt(s)${describeFilter(filter)}, saw ${engine.attempts(filter).length}`
  )
  return engine.attempts(filter)
}

/** Waits until the task `name` has finished (succeeded, exhausted its retries, deleted, purged). */
export const waitForTask = async (engine: Engine, name: string, timeoutMs: number): Promise<TaskOutcome> => {
  await engine.waitUntil(
    () => engine.outcome(name) !== undefined,
    timeoutMs,
    () => `waiting for task ${name} to finish (${engine.attempts({ task: name }).length} attempt(s) so far)`
  )
  return engine.outcome(name)!
}

const describeFilter = (filter: AttemptFilter): string =>
  [filter.task === undefined ? "" : ` of task ${filter.task}`, filter.queue === undefined ? "" : ` in ${filter.queue}`]
    .join("")
