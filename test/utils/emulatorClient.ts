/**
 * The official `@google-cloud/tasks` client pointed at a Cloud Tasks emulator, in the mode the
 * test project asks for (`inject("clientMode")`, see vitest.config.ts): plaintext gRPC with the
 * grpc-js that the client's own `google-gax` loads (so no second copy of grpc-js), or REST
 * (`fallback: true`, HTTP/1.1 JSON) with a pass-through auth client. No Google credentials, no
 * auth lookup (the universe domain is given), no network beyond 127.0.0.1.
 */
import { CloudTasksClient } from "@google-cloud/tasks"
import { createRequire } from "node:module"
import { inject } from "vitest"

const require = createRequire(import.meta.url)
const gax = createRequire(require.resolve("@google-cloud/tasks"))("google-gax") as typeof import("google-gax")
const { PassThroughClient } = createRequire(require.resolve("google-gax"))(
  "google-auth-library"
) as typeof import("google-auth-library")

/** The client's gRPC module (google-gax's `grpc`), e.g. for `grpc.status` codes. */
export const grpc = gax.grpc

/** How the client talks to the emulator. */
export type ClientMode = "grpc" | "rest"

declare module "vitest" {
  export interface ProvidedContext {
    /** The transport of the official client in the emulator tests. */
    readonly clientMode: ClientMode
  }
}

/** The mode of this test run: `grpc` unless the test project provides `rest`. */
export const clientMode = (): ClientMode => inject("clientMode") ?? "grpc"

/** A client for the emulator at `host` (`"127.0.0.1:<port>"`). Close it with `client.close()`. */
export const makeClient = (host: string, mode: ClientMode = clientMode()): CloudTasksClient => {
  const index = host.lastIndexOf(":")
  const address = { servicePath: host.slice(0, index), port: Number(host.slice(index + 1)) }
  // Without an explicit universe domain, google-auth-library asks the GCE metadata server
  // (network, and a MetadataLookupWarning) before the first call.
  const universeDomain = "googleapis.com"
  return mode === "rest"
    ? new CloudTasksClient({ ...address, fallback: true, protocol: "http", authClient: new PassThroughClient(), universeDomain })
    : new CloudTasksClient({ ...address, sslCreds: gax.grpc.credentials.createInsecure(), universeDomain })
}

/** Google's JSON error, as the REST API answers a failed call. */
export interface RestErrorBody {
  readonly error: {
    readonly code: number
    readonly message: string
    readonly status: string
    readonly details: ReadonlyArray<{ readonly "@type": string } & Record<string, unknown>>
  }
}

/**
 * The JSON error a REST-mode client reports: gaxios fails a non-2xx answer before google-gax
 * decodes it, with the answer's body as the error's message.
 */
export const restErrorBodyOf = (error: unknown): RestErrorBody | undefined => {
  try {
    const body = JSON.parse((error as Error).message) as Partial<RestErrorBody>
    return body.error === undefined ? undefined : (body as RestErrorBody)
  } catch {
    return undefined
  }
}

/**
 * The status code and message of an API error as the client reports it, in either mode: over
 * gRPC the code and `details`; over REST the `status` and `message` of Google's JSON error.
 */
export const apiErrorOf = (error: unknown): { readonly code: number; readonly message: string } => {
  const e = error as { code: number; details: unknown; message: string }
  if (typeof e.details === "string") return { code: e.code, message: e.details }
  const body = restErrorBodyOf(error)
  if (body === undefined) return { code: e.code, message: e.message }
  return { code: grpc.status[body.error.status as keyof typeof grpc.status] as number, message: body.error.message }
}

/** A `google.rpc` error detail, named by its type (`google.rpc.Help`) beside its fields. */
export type StatusDetail = { readonly type: string } & Record<string, unknown>

/**
 * The details of an API error as the client reports them, in either mode: over gRPC the
 * messages google-gax decodes from the `grpc-status-details-bin` trailer; over REST the
 * `details` of Google's JSON error.
 */
export const statusDetailsOf = (error: unknown): ReadonlyArray<StatusDetail> => {
  const body = restErrorBodyOf(error)
  if (body !== undefined) {
    return body.error.details.map(({ "@type": type, ...fields }) => ({ type: type.replace("type.googleapis.com/", ""), ...fields }))
  }
  const details = (error as { statusDetails?: ReadonlyArray<object> }).statusDetails ?? []
  return details.map((detail) => ({
    type: `google.rpc.${detail.constructor.name}`,
    ...(JSON.parse(JSON.stringify(detail)) as Record<string, unknown>)
  }))
}
