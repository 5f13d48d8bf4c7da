/**
 * A real HTTP server on 127.0.0.1 (port 0) for Cloud Tasks emulator tests to deliver tasks to:
 * it records every request exactly as received (header names in their wire casing, body bytes)
 * and answers what the test scripts.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"

/** A request the target received. */
export interface ReceivedRequest {
  readonly method: string
  /** Path and query. */
  readonly path: string
  /** Header names as sent on the wire, e.g. `X-CloudTasks-TaskRetryCount`. */
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
  readonly receivedAt: number
}

/** What the target answers: a status, or a status with headers and a delay. */
export type Reply = number | { readonly status: number; readonly headers?: Record<string, string>; readonly delayMs?: number }

/** A running target. */
export interface Target {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly requests: ReadonlyArray<ReceivedRequest>
  /** Resolves once `count` requests arrived. */
  readonly waitFor: (count: number, timeoutMs?: number) => Promise<ReadonlyArray<ReceivedRequest>>
  /** Requests being handled right now. */
  readonly inFlight: () => number
  /** The most requests that were ever handled at the same time. */
  readonly maxInFlight: () => number
  readonly close: () => Promise<void>
}

/** The value of header `name`, looked up case-insensitively. */
export const header = (request: { readonly headers: Readonly<Record<string, string>> }, name: string): string | undefined => {
  const wanted = name.toLowerCase()
  for (const [key, value] of Object.entries(request.headers)) if (key.toLowerCase() === wanted) return value
  return undefined
}

/** Starts a target; `reply` decides the answer to the `index`-th request (0-based). */
export const startTarget = async (
  reply: (request: ReceivedRequest, index: number) => Reply = () => 200
): Promise<Target> => {
  const requests: Array<ReceivedRequest> = []
  const waiters = new Set<() => void>()
  const timers = new Set<NodeJS.Timeout>()
  let inFlight = 0
  let maxInFlight = 0
  const server = http.createServer((req, res) => {
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const headers: Record<string, string> = {}
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers[req.rawHeaders[i]!] = req.rawHeaders[i + 1]!
      const received: ReceivedRequest = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers,
        body: Buffer.concat(chunks),
        receivedAt: Date.now()
      }
      const index = requests.length
      requests.push(received)
      for (const waiter of [...waiters]) waiter()
      const answer = reply(received, index)
      const { status, headers: replyHeaders = {}, delayMs = 0 } = typeof answer === "number" ? { status: answer } : answer
      const send = () => {
        inFlight--
        if (!res.destroyed) res.writeHead(status, replyHeaders).end()
      }
      if (delayMs > 0) {
        const timer = setTimeout(() => {
          timers.delete(timer)
          send()
        }, delayMs)
        timers.add(timer)
        res.on("close", () => {
          if (timers.delete(timer)) {
            clearTimeout(timer)
            inFlight--
          }
        })
      } else {
        send()
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
    waitFor: (count, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (requests.length >= count) {
            waiters.delete(check)
            clearTimeout(timer)
            resolve(requests)
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`target got ${requests.length} of ${count} requests in ${timeoutMs} ms`))
        }, timeoutMs)
        waiters.add(check)
        check()
      }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer)
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}
