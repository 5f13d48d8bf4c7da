/**
 * A real HTTP server on 127.0.0.1 (port 0) that records every request and answers
 * as the test says, for the worker and loopback routes and the emulator's deliveries.
 */
import { Effect } from "effect"
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

export interface Reply {
  readonly status?: number
  /** Hold the response this long (milliseconds, real time). */
  readonly delayMs?: number
  /** Never answer (until the server closes). */
  readonly hang?: boolean
  /** Extra response headers (e.g. a redirect's `location`). */
  readonly headers?: Readonly<Record<string, string>>
  /** Answer with a body that never ends (until the client goes away). */
  readonly endless?: boolean
}

export interface RecordingServer {
  readonly url: string
  readonly requests: Array<RecordedRequest>
  /** Bytes of endless bodies written so far, and whether each client went away. */
  readonly endless: Array<{ written: number; closed: boolean }>
  /** Resolves when `count` requests have arrived. */
  readonly received: (count: number) => Effect.Effect<void>
}

/** A scoped recording server; `reply` decides each answer (default 200). */
export const recordingServer = (
  reply: (request: RecordedRequest, index: number) => Reply = () => ({})
) =>
  Effect.acquireRelease(
    Effect.async<RecordingServer & { readonly close: () => void }>((resume) => {
      const requests: Array<RecordedRequest> = []
      const endless: RecordingServer["endless"] = []
      const waiters: Array<{ count: number; wake: () => void }> = []
      const hanging = new Set<ServerResponse>()
      const server = createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const recorded = {
            method: req.method ?? "",
            path: req.url ?? "",
            headers: req.headers,
            body: Buffer.concat(chunks).toString("utf8")
          }
          requests.push(recorded)
          for (const waiter of waiters.filter((w) => requests.length >= w.count)) waiter.wake()
          const answer = reply(recorded, requests.length - 1)
          if (answer.hang) {
            hanging.add(res)
            return
          }
          if (answer.endless) {
            const stream = { written: 0, closed: false }
            endless.push(stream)
            hanging.add(res)
            res.writeHead(answer.status ?? 200, { "content-type": "text/plain", ...answer.headers })
            const chunk = Buffer.alloc(16 * 1024, "x")
            const pump = () => {
              while (!stream.closed && res.write(chunk)) stream.written += chunk.length
            }
            res.on("drain", pump)
            res.on("close", () => {
              stream.closed = true
            })
            return pump()
          }
          const send = () =>
            res.writeHead(answer.status ?? 200, { "content-type": "text/plain", ...answer.headers }).end("ok")
          if (answer.delayMs) setTimeout(send, answer.delayMs).unref()
          else send()
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({
          url: `http://127.0.0.1:${port}`,
          requests,
          endless,
          received: (count) =>
            Effect.async<void>((wake) => {
              if (requests.length >= count) return wake(Effect.void)
              waiters.push({ count, wake: () => wake(Effect.void) })
            }),
          close: () => {
            for (const res of hanging) res.destroy()
            server.closeAllConnections()
            server.close()
          }
        }))
      })
    }),
    (server) => Effect.sync(server.close)
  )

/** A URL on 127.0.0.1 where nothing listens (a port just closed). */
export const closedPortUrl = Effect.async<string>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo
    server.close(() => resume(Effect.succeed(`http://127.0.0.1:${port}`)))
  })
})
