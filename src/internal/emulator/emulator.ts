/**
 * Starts the emulator: the OIDC issuer and its JWKS server, the queue engine on the system clock
 * with HTTP delivery, and one port on 127.0.0.1 serving gRPC, the REST API and the dashboard.
 * Stopping closes them all and leaves nothing running.
 *
 * @internal
 */
import * as http from "node:http"
import { systemClock } from "../engine/clock.js"
import { Engine } from "../engine/engine.js"
import type { DeliveryAttempt, SettingsPatch } from "../engine/model.js"
import { httpServerTimeouts, type SlowClientTimeouts } from "../slowClients.js"
import { grpcError, toApiError } from "./apiStatus.js"
import { makeDashboard } from "./dashboard.js"
import { makeHttpDelivery } from "./delivery.js"
import { openFrontDoor } from "./frontDoor.js"
import { type GrpcRuntime, loadGrpcRuntime, type UnaryHandler } from "./grpcRuntime.js"
import { emulatorAccessToken, startOidcIssuer } from "./oidc.js"
import { makeRestHandler } from "./rest.js"
import { cloudTasksMethods, type Method } from "./service.js"

/** Resolved start options, durations in milliseconds. */
export interface ResolvedOptions {
  readonly port: number
  /** The queues created at start, each with its settings. */
  readonly queues: ReadonlyArray<readonly [name: string, settings: SettingsPatch]>
  readonly dedupWindowMs: number
  readonly queueReuseWindowMs: number
  readonly minDispatchDeadlineMs: number
  readonly oidcIssuer: string
  readonly jwksPort: number
  readonly attemptLogLimit: number
  /** The wall clock; timers run in real time. */
  readonly clock: () => number
  readonly onAttempt: ((attempt: DeliveryAttempt) => void) | undefined
  /** The base URL App Engine tasks go to. */
  readonly appEngineTarget: string
  /** The URL of a task firebase-admin creates without one, for its queue. */
  readonly firebaseTarget: (queue: string) => string
  /** How long a slow client may take over its headers, and over its whole request. */
  readonly timeouts: SlowClientTimeouts
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

/** The service's methods as gRPC unary handlers, failures with their status details. */
const grpcHandlers = (runtime: GrpcRuntime, methods: Readonly<Record<string, Method>>): Record<string, UnaryHandler> =>
  Object.fromEntries(
    Object.entries(methods).map(([name, method]) => [
      name,
      ((call, callback) => {
        let response: unknown
        try {
          response = method(call.request as never)
        } catch (error) {
          callback(grpcError(runtime.grpc, runtime.protos, toApiError(error)))
          return
        }
        callback(null, response)
      }) satisfies UnaryHandler
    ])
  )

/** Starts an emulator. */
export const startEmulator = async (options: ResolvedOptions): Promise<RunningEmulator> => {
  const runtime = loadGrpcRuntime()
  const oidc = await startOidcIssuer({ issuer: options.oidcIssuer, port: options.jwksPort, timeouts: options.timeouts })
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
    closedMessage: "The Cloud Tasks emulator stopped",
    appEngineTarget: options.appEngineTarget
  })
  const methods = cloudTasksMethods(engine)
  const grpcServer = new runtime.grpc.Server({ "grpc.max_receive_message_length": 16 * 1024 * 1024 })
  grpcServer.addService(runtime.cloudTasksService, grpcHandlers(runtime, methods))
  if (grpcServer.createConnectionInjector === undefined) {
    throw new Error("The Cloud Tasks emulator needs @grpc/grpc-js 1.10 or later (through @google-cloud/tasks)")
  }
  const injector = grpcServer.createConnectionInjector(runtime.grpc.ServerCredentials.createInsecure())
  const rest = makeRestHandler({ runtime, methods, firebaseTarget: options.firebaseTarget })
  const dashboard = makeDashboard(engine)
  const httpServer = http.createServer(httpServerTimeouts(options.timeouts), (request, response) => {
    void (async () => {
      if (await rest(request, response)) return
      if (dashboard.handle(request, response)) return
      response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("Not found\n")
    })().catch(() => {
      // A request no handler could answer is a 500, never an unhandled rejection (which ends the process).
      if (response.headersSent) response.destroy()
      else response.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end("Internal error\n")
    })
  })
  const closeAll = () => {
    engine.close()
    delivery.close()
    dashboard.close()
    injector.destroy()
    grpcServer.forceShutdown()
    httpServer.closeAllConnections()
    httpServer.close()
  }
  try {
    for (const [queue, settings] of options.queues) engine.ensureQueue(queue, settings)
    const door = await openFrontDoor({
      port: options.port,
      grpc: injector,
      http: httpServer,
      firstBytesMs: options.timeouts.headersMs
    })
    // The server never listens itself (the front door hands it its connections), and Node
    // starts checking its connections for the timeouts above on "listening": without this,
    // a slow client would hold its connection forever.
    httpServer.emit("listening")
    let stopping: Promise<void> | undefined
    const stop = () => {
      stopping ??= (async () => {
        closeAll()
        await Promise.all([door.close(), oidc.close()])
      })()
      return stopping
    }
    return { host: `127.0.0.1:${door.port}`, port: door.port, issuer: oidc.issuer, jwksUri: oidc.jwksUri, engine, stop }
  } catch (error) {
    closeAll()
    await oidc.close()
    throw error
  }
}
