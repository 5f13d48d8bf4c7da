/**
 * Loads, on demand, the gRPC runtime and the Cloud Tasks v2 service definition that the
 * official `@google-cloud/tasks` client itself uses.
 *
 * `@grpc/grpc-js` and `@grpc/proto-loader` are resolved from the `google-gax` that
 * `@google-cloud/tasks` depends on, never from this package: two copies of grpc-js in one
 * process break the client's channel credentials. The `.proto` files are the ones
 * `@google-cloud/tasks` ships, with the `google/api`, `google/iam`, `google/rpc` and
 * `google/protobuf` includes shipped by `google-gax`.
 *
 * @internal
 */
import { createRequire } from "node:module"
import * as path from "node:path"

/** A gRPC error as a unary callback expects it. */
export interface ServiceError {
  readonly code: number
  readonly details: string
}

/** A unary call: the decoded request object. */
export interface UnaryCall {
  readonly request: unknown
}

/** The callback of a unary handler. */
export type UnaryCallback = (error: ServiceError | null, response?: unknown) => void

/** A unary handler. */
export type UnaryHandler = (call: UnaryCall, callback: UnaryCallback) => void

/** The part of a grpc-js `Server` the emulator uses. */
export interface GrpcServer {
  addService(service: unknown, implementation: Record<string, UnaryHandler>): void
  bindAsync(
    address: string,
    credentials: unknown,
    callback: (error: Error | null, port: number) => void
  ): void
  tryShutdown(callback: (error?: Error) => void): void
  forceShutdown(): void
}

/** The part of `@grpc/grpc-js` the emulator uses. */
export interface GrpcModule {
  readonly Server: new(options?: Record<string, unknown>) => GrpcServer
  readonly ServerCredentials: { createInsecure(): unknown }
}

/** What {@link loadGrpcRuntime} returns. */
export interface GrpcRuntime {
  readonly grpc: GrpcModule
  /** The `google.cloud.tasks.v2.CloudTasks` service definition. */
  readonly cloudTasksService: unknown
}

/** Thrown when `@google-cloud/tasks` (and so the gRPC runtime) cannot be loaded. */
export class GrpcRuntimeMissing extends Error {
  constructor(override readonly cause: unknown) {
    super(
      "The Cloud Tasks emulator needs the package @google-cloud/tasks (its .proto files and its gRPC runtime). " +
        "Install it next to effect-http-tasks: npm install --save-dev @google-cloud/tasks"
    )
    this.name = "GrpcRuntimeMissing"
  }
}

interface ProtoLoader {
  loadSync(files: string | ReadonlyArray<string>, options: Record<string, unknown>): Record<string, unknown>
}

let cached: GrpcRuntime | undefined

/**
 * Resolves `@google-cloud/tasks` → `google-gax` → `@grpc/grpc-js` / `@grpc/proto-loader` and
 * loads the Cloud Tasks v2 protos. Cached after the first call.
 */
export const loadGrpcRuntime = (): GrpcRuntime => {
  if (cached !== undefined) return cached
  const here = createRequire(import.meta.url)
  let tasksEntry: string
  let gaxEntry: string
  try {
    tasksEntry = here.resolve("@google-cloud/tasks")
    gaxEntry = createRequire(tasksEntry).resolve("google-gax")
  } catch (cause) {
    throw new GrpcRuntimeMissing(cause)
  }
  const gaxRequire = createRequire(gaxEntry)
  const grpc = gaxRequire("@grpc/grpc-js") as GrpcModule
  const protoLoader = gaxRequire("@grpc/proto-loader") as ProtoLoader
  const tasksProtos = path.join(packageRoot(tasksEntry, "tasks"), "build", "protos")
  const gaxProtos = path.join(packageRoot(gaxEntry, "google-gax"), "build", "protos")
  const definition = protoLoader.loadSync(["google/cloud/tasks/v2/cloudtasks.proto"], {
    includeDirs: [tasksProtos, gaxProtos],
    keepCase: false,
    longs: Number,
    enums: String,
    bytes: Buffer,
    defaults: true,
    oneofs: true
  })
  const service = definition["google.cloud.tasks.v2.CloudTasks"]
  if (service === undefined) {
    throw new Error("google.cloud.tasks.v2.CloudTasks is missing from the protos of @google-cloud/tasks")
  }
  cached = { grpc, cloudTasksService: service }
  return cached
}

/** The directory of the package `name` that contains the resolved entry file. */
const packageRoot = (entry: string, name: string): string => {
  let dir = path.dirname(entry)
  while (path.basename(dir) !== name) {
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error(`Cannot locate the package directory of ${name} from ${entry}`)
    dir = parent
  }
  return dir
}
