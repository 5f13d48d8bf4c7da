/**
 * Starts the emulator: the OIDC issuer and its JWKS server, the queue engine on the system clock
 * with HTTP delivery, and the gRPC server on 127.0.0.1. Stopping closes them all and leaves
 * nothing running.
 *
 * @internal
 */
import * as net from "node:net"
import { systemClock } from "../engine/clock.js"
import { Engine } from "../engine/engine.js"
import type { DeliveryAttempt, SettingsPatch } from "../engine/model.js"
import { makeHttpDelivery } from "./delivery.js"
import { type GrpcServer, loadGrpcRuntime } from "./grpcRuntime.js"
import { emulatorAccessToken, startOidcIssuer } from "./oidc.js"
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
  /** The wall clock; timers run in real time. */
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
  const delivery = makeHttpDelivery()
  const engine = new Engine({
    clock: systemClock(options.clock),
    deliver: delivery.deliver,
    idToken: oidc.idToken,
    accessToken: emulatorAccessToken,
    dedupWindowMs: options.dedupWindowMs,
    queueReuseWindowMs: options.queueReuseWindowMs,
    minDispatchDeadlineMs: options.minDispatchDeadlineMs,
    attemptLogLimit: options.attemptLogLimit,
    onAttempt: options.onAttempt,
    closedMessage: "The Cloud Tasks emulator stopped"
  })
  const closeEngine = () => {
    engine.close()
    delivery.close()
  }
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
        closeEngine()
        await Promise.all([shutdown(grpcServer), oidc.close()])
      })()
      return stopping
    }
    return { host: `127.0.0.1:${port}`, port, issuer: oidc.issuer, jwksUri: oidc.jwksUri, engine, stop }
  } catch (error) {
    closeEngine()
    server?.forceShutdown()
    await oidc.close()
    throw error
  }
}
