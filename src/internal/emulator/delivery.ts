/**
 * One HTTP delivery attempt: the request exactly as built (header names keep their casing on
 * the wire; node adds only `Host`, and `Content-Length` is computed here), aborted when the
 * dispatch deadline passes or the emulator stops.
 *
 * @internal
 */
import * as http from "node:http"
import * as https from "node:https"

/** The request of one attempt. */
export interface DeliveryRequest {
  readonly url: string
  readonly method: string
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body: Buffer
  readonly deadlineMs: number
}

/** How an attempt ended. */
export type DeliveryResult =
  | { readonly _tag: "Response"; readonly status: number; readonly retryAfter: string | undefined }
  | { readonly _tag: "DeadlineExceeded" }
  | { readonly _tag: "Failed"; readonly message: string }
  | { readonly _tag: "Aborted" }

/** A running attempt. */
export interface Delivery {
  readonly result: Promise<DeliveryResult>
  /** Aborts the attempt (when the emulator stops); the result is `Aborted`. */
  readonly abort: () => void
}

/** Connection pools for deliveries, destroyed when the emulator stops. */
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

/** Starts an attempt. */
export const deliver = (agents: Agents, request: DeliveryRequest): Delivery => {
  let settle: (result: DeliveryResult) => void = () => {}
  let done = false
  let clientRequest: http.ClientRequest | undefined
  let timer: NodeJS.Timeout | undefined
  const result = new Promise<DeliveryResult>((resolve) => {
    settle = (value) => {
      if (done) return
      done = true
      if (timer !== undefined) clearTimeout(timer)
      resolve(value)
    }
  })

  const stop = (value: DeliveryResult) => {
    settle(value)
    clientRequest?.destroy()
  }

  try {
    const url = new URL(request.url)
    const isHttps = url.protocol === "https:"
    const headers: Record<string, string> = Object.create(null) as Record<string, string>
    for (const [key, value] of request.headers) headers[key] = value
    const sendsBody = request.method === "POST" || request.method === "PUT" || request.method === "PATCH"
    if (sendsBody) headers["Content-Length"] = String(request.body.length)
    const options: http.RequestOptions = {
      method: request.method,
      headers,
      agent: isHttps ? agents.https : agents.http,
      setHost: true
    }
    clientRequest = (isHttps ? https : http).request(url, options, (response) => {
      const answered: DeliveryResult = {
        _tag: "Response",
        status: response.statusCode ?? 0,
        retryAfter: response.headers["retry-after"]
      }
      response.on("error", () => {})
      // The status counts once the body is read, or when the target closes the connection early.
      response.on("end", () => settle(answered))
      response.on("close", () => settle(answered))
      response.resume()
    })
    clientRequest.on("error", (error) => settle({ _tag: "Failed", message: error.message }))
    timer = setTimeout(() => stop({ _tag: "DeadlineExceeded" }), request.deadlineMs)
    clientRequest.end(sendsBody ? request.body : undefined)
  } catch (error) {
    settle({ _tag: "Failed", message: error instanceof Error ? error.message : String(error) })
  }

  return { result, abort: () => stop({ _tag: "Aborted" }) }
}
