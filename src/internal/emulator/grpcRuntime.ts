/**
 * Loads, on demand, the gRPC runtime and the Cloud Tasks v2 service definition that the
 * official `@google-cloud/tasks` client itself uses, and the same protos as protobuf.js types
 * with the proto3 JSON mapping (for the REST surface and for error details).
 *
 * `@grpc/grpc-js`, `@grpc/proto-loader`, `protobufjs` and `proto3-json-serializer` are resolved
 * from the `google-gax` that `@google-cloud/tasks` depends on, never from this package: two
 * copies of grpc-js in one process break the client's channel credentials. The `.proto` files
 * are the ones `@google-cloud/tasks` ships, with the `google/api`, `google/iam`, `google/rpc`
 * and `google/protobuf` includes shipped by `google-gax`.
 *
 * @internal
 */
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"

/** gRPC metadata (the part the emulator uses). */
export interface GrpcMetadata {
  set(key: string, value: string | Buffer): void
}

/** A gRPC error as a unary callback expects it. */
export interface ServiceError {
  readonly code: number
  readonly details: string
  readonly metadata?: GrpcMetadata
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
  /** Serves connections accepted elsewhere (grpc-js 1.10 and later). */
  createConnectionInjector?(credentials: unknown): ConnectionInjector
}

/** Hands connections accepted by another server to a gRPC server. */
export interface ConnectionInjector {
  injectConnection(connection: import("node:stream").Duplex): void
  drain(graceTimeMs: number): void
  destroy(): void
}

/** The part of `@grpc/grpc-js` the emulator uses. */
export interface GrpcModule {
  readonly Server: new(options?: Record<string, unknown>) => GrpcServer
  readonly ServerCredentials: { createInsecure(): unknown }
  readonly Metadata: new() => GrpcMetadata
}

/** A protobuf.js message type (the part the emulator uses). */
export interface ProtoType {
  readonly fullName: string
  readonly fieldsArray: ReadonlyArray<ProtoField>
  fromObject(object: unknown): unknown
  toObject(message: unknown, options: Record<string, unknown>): Record<string, unknown>
  encode(message: unknown): { finish(): Uint8Array }
}

/** A field of a protobuf.js message type. */
export interface ProtoField {
  readonly name: string
  /** The scalar type name (`int32`, `bool`, `string`, …), or the message or enum type name. */
  readonly type: string
  readonly repeated: boolean
  readonly resolvedType: ProtoType | { readonly values: Record<string, number> } | null
}

/** A method of a protobuf.js service. */
export interface ProtoMethod {
  readonly name: string
  readonly resolvedRequestType: ProtoType | null
  readonly resolvedResponseType: ProtoType | null
  /** The method's options, `(google.api.http)` among them. */
  readonly parsedOptions: ReadonlyArray<Record<string, unknown>> | null
}

/** A protobuf.js root holding the Cloud Tasks protos and `google.rpc` error details. */
export interface ProtoRoot {
  lookupType(name: string): ProtoType
  lookupService(name: string): { readonly methodsArray: ReadonlyArray<ProtoMethod>; resolveAll(): unknown }
}

/** The proto3 JSON mapping (`proto3-json-serializer`). */
export interface Proto3Json {
  fromProto3JSON(type: ProtoType, json: unknown): unknown
  toProto3JSON(message: unknown, options?: Record<string, unknown>): unknown
}

/** What {@link loadGrpcRuntime} returns. */
export interface GrpcRuntime {
  readonly grpc: GrpcModule
  /** The `google.cloud.tasks.v2.CloudTasks` service definition. */
  readonly cloudTasksService: unknown
  /** The same protos as protobuf.js types, with `google/rpc/error_details.proto` and `status.proto`. */
  readonly protos: ProtoRoot
  readonly json: Proto3Json
}

/**
 * How requests and responses are turned into objects and back, on every transport: the options
 * of `@grpc/proto-loader` that the gRPC server uses.
 */
export const OBJECT_OPTIONS = {
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true
} as const

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

interface Protobufjs {
  readonly Root: new() => ProtoRoot & {
    resolvePath: (origin: string, target: string) => string
    loadSync(files: ReadonlyArray<string>, options?: Record<string, unknown>): ProtoRoot
  }
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
  const includeDirs = [tasksProtos, gaxProtos]
  const definition = protoLoader.loadSync(["google/cloud/tasks/v2/cloudtasks.proto"], {
    includeDirs,
    keepCase: false,
    ...OBJECT_OPTIONS
  })
  const service = definition["google.cloud.tasks.v2.CloudTasks"]
  if (service === undefined) {
    throw new Error("google.cloud.tasks.v2.CloudTasks is missing from the protos of @google-cloud/tasks")
  }
  const protobuf = gaxRequire("protobufjs") as Protobufjs
  const root = new protobuf.Root()
  // Resolve imports against the include directories, as proto-loader does.
  root.resolvePath = (_origin, target) => {
    for (const dir of includeDirs) {
      const candidate = path.join(dir, target)
      if (existsSync(candidate)) return candidate
    }
    return target
  }
  root.loadSync(
    ["google/cloud/tasks/v2/cloudtasks.proto", "google/rpc/status.proto", "google/rpc/error_details.proto"],
    { keepCase: false }
  )
  root.lookupService("google.cloud.tasks.v2.CloudTasks").resolveAll()
  const json = gaxRequire("proto3-json-serializer") as Proto3Json
  cached = { grpc, cloudTasksService: service, protos: root, json }
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
