/**
 * One HTTP request of a task, as Cloud Tasks sends it: the headers exactly as given
 * (their casing and order kept on the wire; node adds only `Host` when it is not given,
 * and the `Content-Length` is computed here when it is not given), no redirect followed (a 3xx is an answer like any other), and the
 * outcome settled on the status line. Of the response body at most
 * {@link MAX_BODY_PREFIX} bytes are read; a longer body is cut off, so an endless
 * answer cannot hold the sender. Used by the worker and loopback routes and by the
 * emulator's delivery.
 */
import * as http from "node:http"
import * as https from "node:https"

/** How much of a response body is read before the connection is dropped. */
export const MAX_BODY_PREFIX = 64 * 1024

/** The request of one attempt. */
export interface HttpTaskRequest {
  readonly url: string
  readonly method: string
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body: Uint8Array | string
}

/** How a request ended. */
export type HttpTaskResult =
  | { readonly _tag: "Response"; readonly status: number; readonly retryAfter: string | undefined }
  | { readonly _tag: "Failed"; readonly message: string; readonly code: string | undefined }

/** Connection pools, one per user of this module, destroyed with it. */
export interface Agents {
  readonly http: http.Agent
  readonly https: https.Agent
}

/** Creates the connection pools. */
export const makeAgents = (): Agents => ({
  http: new http.Agent({ keepAlive: true }),
  https: new https.Agent({ keepAlive: true })
})

/** Closes every pooled connection. */
export const destroyAgents = (agents: Agents): void => {
  agents.http.destroy()
  agents.https.destroy()
}

const sendsBody = (method: string) => method === "POST" || method === "PUT" || method === "PATCH"

/** Reads at most {@link MAX_BODY_PREFIX} bytes of `response`, then lets the connection go. */
const discardBody = (response: http.IncomingMessage): void => {
  let read = 0
  response.on("error", () => {})
  response.on("data", (chunk: Buffer) => {
    read += chunk.length
    if (read > MAX_BODY_PREFIX) response.destroy()
  })
}

/**
 * Sends `request`; `onResult` is called once, with the status as soon as it arrives
 * or with why there was none. The returned function aborts the request (its
 * result is then never reported).
 */
export const sendHttpTask = (
  agents: Agents,
  request: HttpTaskRequest,
  onResult: (result: HttpTaskResult) => void
): () => void => {
  let done = false
  const settle = (result: HttpTaskResult) => {
    if (done) return
    done = true
    onResult(result)
  }
  let outgoing: http.ClientRequest
  try {
    const url = new URL(request.url)
    const isHttps = url.protocol === "https:"
    const headers: Record<string, string> = Object.create(null)
    for (const [key, value] of request.headers) headers[key] = value
    const body = sendsBody(request.method) ? Buffer.from(request.body) : undefined
    if (body !== undefined && !request.headers.some(([key]) => key.toLowerCase() === "content-length")) {
      headers["Content-Length"] = String(body.length)
    }
    outgoing = (isHttps ? https : http).request(url, {
      method: request.method,
      headers,
      agent: isHttps ? agents.https : agents.http,
      setHost: true
    }, (response) => {
      discardBody(response)
      const retryAfter = response.headers["retry-after"]
      settle({ _tag: "Response", status: response.statusCode ?? 0, retryAfter })
    })
    outgoing.on("error", (error: NodeJS.ErrnoException) => settle({ _tag: "Failed", message: error.message, code: error.code }))
    outgoing.end(body)
  } catch (error) {
    settle({ _tag: "Failed", message: error instanceof Error ? error.message : String(error), code: undefined })
    return () => {}
  }
  return () => {
    done = true
    outgoing.destroy()
  }
}
