/**
 * The size of a task as Cloud Tasks measures it for its 1 MB limit: the serialized proto of the
 * stored task (name, schedule and create times, the dispatch deadline with its default, and the
 * HTTP request with method, headers as stored, body and token, or the App Engine request with
 * method, routing, relative URI, headers and body). Computed arithmetically from the proto3 wire
 * format; every field number involved is below 16, so each key is one byte.
 *
 * @internal
 */
import type { StoredAppEngineRequest, StoredHttpRequest, StoredRequest } from "./model.js"

const varintSize = (value: number): number => {
  let n = 1
  let v = Math.floor(value)
  while (v >= 0x80) {
    v = Math.floor(v / 128)
    n++
  }
  return n
}

const lengthDelimited = (payload: number): number => 1 + varintSize(payload) + payload

const stringField = (value: string): number =>
  value.length === 0 ? 0 : lengthDelimited(Buffer.byteLength(value, "utf8"))

/** Encoded size of a Timestamp or Duration field (`seconds`, `nanos`). */
const secondsNanosField = (ms: number): number => {
  const seconds = Math.floor(ms / 1000)
  const nanos = Math.round((ms - seconds * 1000) * 1e6)
  let payload = 0
  if (seconds !== 0) payload += 1 + varintSize(seconds)
  if (nanos !== 0) payload += 1 + varintSize(nanos)
  return lengthDelimited(payload)
}

const httpRequestSize = (request: StoredHttpRequest): number => {
  let size = stringField(request.url)
  size += 2 // http_method: every method is a non-default one-byte enum value
  for (const [key, value] of request.headers) {
    size += lengthDelimited(stringField(key) + stringField(value))
  }
  if (request.body.length > 0) size += lengthDelimited(request.body.length)
  if (request.oidcToken !== undefined) {
    size += lengthDelimited(stringField(request.oidcToken.serviceAccountEmail) + stringField(request.oidcToken.audience))
  }
  if (request.oauthToken !== undefined) {
    size += lengthDelimited(stringField(request.oauthToken.serviceAccountEmail) + stringField(request.oauthToken.scope))
  }
  return size
}

const appEngineRequestSize = (request: StoredAppEngineRequest): number => {
  let size = 2 // http_method
  const { service, version, instance } = request.routing
  const routing = stringField(service) + stringField(version) + stringField(instance)
  if (routing > 0) size += lengthDelimited(routing)
  size += stringField(request.relativeUri)
  for (const [key, value] of request.headers) {
    size += lengthDelimited(stringField(key) + stringField(value))
  }
  if (request.body.length > 0) size += lengthDelimited(request.body.length)
  return size
}

/** The stored size of a new task, in bytes. */
export const storedTaskSize = (task: {
  readonly name: string
  readonly scheduleTime: number
  readonly createTime: number
  readonly dispatchDeadlineMs: number
  readonly request: StoredRequest
}): number =>
  stringField(task.name) +
  secondsNanosField(task.scheduleTime) +
  secondsNanosField(task.createTime) +
  secondsNanosField(task.dispatchDeadlineMs) +
  lengthDelimited(task.request._tag === "Http" ? httpRequestSize(task.request) : appEngineRequestSize(task.request))
