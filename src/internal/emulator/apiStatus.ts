/**
 * API failures on the wire, as Google's APIs send them: over gRPC a status code, its message and
 * a `google.rpc.Status` with the details in the `grpc-status-details-bin` trailer; over REST the
 * HTTP status that maps the code and the JSON body `{ error: { code, message, status, details } }`,
 * each detail an `Any` in the proto3 JSON mapping (`"@type": "type.googleapis.com/…"`).
 *
 * @internal
 */
import { ApiError, type ErrorDetail, Status, statusName } from "../engine/apiError.js"
import type { GrpcModule, ProtoRoot, ServiceError } from "./grpcRuntime.js"

const TYPE_URL_PREFIX = "type.googleapis.com/"

/** The HTTP status Google's APIs answer for a status code. */
export const httpStatusOf = (code: number): number => {
  switch (code) {
    case Status.OK:
      return 200
    case Status.CANCELLED:
      return 499
    case Status.INVALID_ARGUMENT:
    case Status.FAILED_PRECONDITION:
    case Status.OUT_OF_RANGE:
      return 400
    case Status.DEADLINE_EXCEEDED:
      return 504
    case Status.NOT_FOUND:
      return 404
    case Status.ALREADY_EXISTS:
    case Status.ABORTED:
      return 409
    case Status.PERMISSION_DENIED:
      return 403
    case Status.RESOURCE_EXHAUSTED:
      return 429
    case Status.UNIMPLEMENTED:
      return 501
    case Status.UNAVAILABLE:
      return 503
    case Status.UNAUTHENTICATED:
      return 401
    default:
      return 500
  }
}

/** The proto type of a detail and its fields. */
const detailMessage = (detail: ErrorDetail): { readonly type: string; readonly fields: Record<string, unknown> } => {
  switch (detail._tag) {
    case "Help":
      return { type: "google.rpc.Help", fields: { links: detail.links.map((link) => ({ ...link })) } }
    case "ErrorInfo":
      return { type: "google.rpc.ErrorInfo", fields: { reason: detail.reason, domain: detail.domain, metadata: { ...detail.metadata } } }
    case "LocalizedMessage":
      return { type: "google.rpc.LocalizedMessage", fields: { locale: detail.locale, message: detail.message } }
  }
}

/** Any failure as an {@link ApiError}: the engine's as they are, anything else `INTERNAL`. */
export const toApiError = (error: unknown): ApiError =>
  error instanceof ApiError
    ? error
    : new ApiError(Status.INTERNAL, `Emulator error: ${error instanceof Error ? error.message : String(error)}`)

/** The JSON body of a failed REST call. */
export const restErrorBody = (error: ApiError) => ({
  error: {
    code: httpStatusOf(error.code),
    message: error.message,
    status: statusName(error.code),
    details: error.details.map((detail) => {
      const { fields, type } = detailMessage(detail)
      return { "@type": `${TYPE_URL_PREFIX}${type}`, ...fields }
    })
  }
})

/** The gRPC error of a failed call, with the details in `grpc-status-details-bin` when there are any. */
export const grpcError = (grpc: GrpcModule, protos: ProtoRoot, error: ApiError): ServiceError => {
  if (error.details.length === 0) return { code: error.code, details: error.message }
  const statusType = protos.lookupType("google.rpc.Status")
  // protobuf.js encodes an `Any` given as `{ "@type": …, …fields }` with the named type.
  const details = error.details.map((detail) => {
    const { fields, type } = detailMessage(detail)
    return { "@type": `${TYPE_URL_PREFIX}${type}`, ...fields }
  })
  const status = statusType.encode(statusType.fromObject({ code: error.code, message: error.message, details })).finish()
  const metadata = new grpc.Metadata()
  metadata.set("grpc-status-details-bin", Buffer.from(status))
  return { code: error.code, details: error.message, metadata }
}
