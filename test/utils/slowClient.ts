/**
 * Slow clients over raw sockets, for the servers' timeouts: one that sends nothing, one that
 * drips its headers (or the HTTP/2 preface) a byte at a time without ever going idle, and one
 * that stops in the middle of its body. Each resolves when the server closes the connection,
 * or after `limitMs` (then `closed` is false and the client gives up).
 */
import * as net from "node:net"

export type SlowClient =
  | { readonly _tag: "Silent" }
  | { readonly _tag: "DripHeaders"; readonly head: string }
  | { readonly _tag: "StallBody"; readonly head: string; readonly sent: string }

export interface SlowClientResult {
  /** The server closed the connection. */
  readonly closed: boolean
  /** Bytes the client got to send before that. */
  readonly sent: number
  /** What the server answered, if anything. */
  readonly answer: string
}

/** `GET <path>` whose header block never ends: one more byte of a header value every `everyMs`. */
export const dripHeaders = (path = "/"): SlowClient => ({ _tag: "DripHeaders", head: `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ` })

/** The HTTP/2 connection preface that gRPC clients open with, a byte at a time. */
export const dripPreface: SlowClient = { _tag: "DripHeaders", head: "" }

/** A `POST` announcing 1,000 bytes of JSON that sends a few, then nothing. */
export const stallBody = (path: string, headers: Readonly<Record<string, string>> = {}): SlowClient => ({
  _tag: "StallBody",
  head: `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n${
    Object.entries(headers).map(([key, value]) => `${key}: ${value}\r\n`).join("")
  }\r\n`,
  sent: `{"filename":"`
})

export const silent: SlowClient = { _tag: "Silent" }

export const slowClient = (
  port: number,
  client: SlowClient,
  options: { readonly everyMs?: number; readonly limitMs?: number } = {}
): Promise<SlowClientResult> =>
  new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1")
    let sent = 0
    let answer = ""
    let drip: ReturnType<typeof setInterval> | undefined
    const write = (text: string) => {
      if (socket.destroyed || !socket.writable) return
      socket.write(text)
      sent += Buffer.byteLength(text)
    }
    const finish = (closed: boolean) => {
      clearInterval(drip)
      clearTimeout(limit)
      socket.destroy()
      resolve({ closed, sent, answer })
    }
    const limit = setTimeout(() => finish(false), options.limitMs ?? 10_000)
    socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")))
    socket.on("error", () => {})
    socket.on("close", () => finish(true))
    socket.on("connect", () => {
      if (client._tag === "Silent") return
      if (client._tag === "StallBody") return write(client.head + client.sent)
      const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
      let next = 0
      write(client.head)
      drip = setInterval(() => write(client.head === "" ? preface[next++ % preface.length]! : "a"), options.everyMs ?? 50)
    })
  })
