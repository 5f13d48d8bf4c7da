/**
 * HTTP/1.1 spoken by hand over a socket, for what fetch will not send: paths it would
 * normalise, and request bodies that never end.
 */
import { Effect } from "effect"
import * as net from "node:net"

export interface RawAnswer {
  /** The status of the answer, or 0 when none arrived. */
  readonly status: number
  /** The answer as received, headers and body. */
  readonly text: string
  /** Body bytes written before the server closed the connection. */
  readonly sent: number
}

const connect = (url: string) => {
  const { hostname, port } = new URL(url)
  return net.connect(Number(port), hostname)
}

const answer = (text: string, sent: number): RawAnswer => ({
  status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0),
  text,
  sent
})

/** Sends `head` (request line and headers, without the blank line) and `body`, and reads until the server closes. */
export const rawRequest = (url: string, head: string, body = ""): Effect.Effect<RawAnswer> =>
  Effect.async((resume) => {
    const socket = connect(url)
    let text = ""
    socket.on("connect", () => {
      socket.end(`${head}\r\nHost: x\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
    })
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")))
    socket.on("error", () => {})
    socket.on("close", () => resume(Effect.succeed(answer(text, Buffer.byteLength(body)))))
    return Effect.sync(() => socket.destroy())
  })

/**
 * POSTs a chunked body that never ends (16 KiB chunks, as fast as the socket takes
 * them) until the server closes the connection; resolves with its answer and how much
 * was sent. It never resolves while the server keeps reading.
 */
export const endlessUpload = (url: string, path: string, headers: Readonly<Record<string, string>>) =>
  Effect.async<RawAnswer>((resume) => {
    const socket = connect(url)
    let text = ""
    let sent = 0
    const chunk = Buffer.concat([Buffer.from("4000\r\n"), Buffer.alloc(0x4000, 0x20), Buffer.from("\r\n")])
    const pump = () => {
      while (!socket.destroyed && socket.write(chunk)) sent += 0x4000
    }
    socket.on("connect", () => {
      const lines = Object.entries(headers).map(([key, value]) => `${key}: ${value}\r\n`).join("")
      socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${lines}Transfer-Encoding: chunked\r\n\r\n`)
      pump()
    })
    socket.on("drain", pump)
    socket.on("data", (data: Buffer) => (text += data.toString("latin1")))
    socket.on("error", () => {})
    socket.on("close", () => resume(Effect.succeed(answer(text, sent))))
    return Effect.sync(() => socket.destroy())
  })

/**
 * POSTs the start of a body, framed by a declared length of 100 bytes or as one chunk,
 * then goes away (ends its side of the connection); resolves with whatever answer arrived.
 */
export const cutOffUpload = (url: string, path: string, headers: Readonly<Record<string, string>>, framing: "declared" | "chunked") =>
  Effect.async<RawAnswer>((resume) => {
    const socket = connect(url)
    let text = ""
    socket.on("connect", () => {
      const lines = Object.entries(headers).map(([key, value]) => `${key}: ${value}\r\n`).join("")
      const body = framing === "declared" ? `Content-Length: 100\r\n\r\n{"fil` : `Transfer-Encoding: chunked\r\n\r\n5\r\n{"fil\r\n`
      socket.end(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${lines}${body}`)
    })
    socket.on("data", (data: Buffer) => (text += data.toString("latin1")))
    socket.on("error", () => {})
    socket.on("close", () => resume(Effect.succeed(answer(text, 5))))
    return Effect.sync(() => socket.destroy())
  })
