/**
 * The emulator's {@link Deliver}: each attempt is an HTTP request exactly as the engine built it
 * (header names keep their casing and order on the wire; node adds nothing the engine did not
 * give), over keep-alive connection pools that {@link HttpDelivery.close} destroys. The engine
 * enforces the dispatch deadline and calls `abort` when it passes.
 *
 * @internal
 */
import * as http from "node:http"
import * as https from "node:https"
import type { Deliver, DeliveryResult } from "../engine/deliver.js"

/** HTTP delivery and its connection pools. */
export interface HttpDelivery {
  readonly deliver: Deliver
  /** Closes every pooled connection. */
  readonly close: () => void
}

/** Creates the connection pools and the delivery that uses them. */
export const makeHttpDelivery = (): HttpDelivery => {
  const agents = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true })
  }

  const deliver: Deliver = (request) => {
    let settle: (result: DeliveryResult) => void = () => {}
    let done = false
    let clientRequest: http.ClientRequest | undefined
    const result = new Promise<DeliveryResult>((resolve) => {
      settle = (value) => {
        if (done) return
        done = true
        resolve(value)
      }
    })

    try {
      const url = new URL(request.url)
      const isHttps = url.protocol === "https:"
      const headers: Record<string, string> = Object.create(null) as Record<string, string>
      for (const [key, value] of request.headers) headers[key] = value
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
      clientRequest.end(request.body.length > 0 ? request.body : undefined)
    } catch (error) {
      settle({ _tag: "Failed", message: error instanceof Error ? error.message : String(error) })
    }

    const abort = () => {
      settle({ _tag: "Aborted" })
      clientRequest?.destroy()
    }
    return { result, abort }
  }

  const close = () => {
    agents.http.destroy()
    agents.https.destroy()
  }

  return { deliver, close }
}
