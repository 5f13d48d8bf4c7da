/**
 * One TCP port for every protocol of the emulator: each connection is read up to its first
 * bytes, then handed to the gRPC server when it opens with the HTTP/2 connection preface
 * (`PRI * HTTP/2.0`, what gRPC clients send in plaintext), and to an HTTP/1.1 server (REST and
 * the dashboard) otherwise.
 *
 * The servers get a stream that replays those first bytes, then carries the connection: Node's
 * HTTP servers read a plain socket's native handle directly, which would skip bytes put back
 * with `unshift`.
 *
 * @internal
 */
import type * as http from "node:http"
import * as net from "node:net"
import { Duplex } from "node:stream"
import type { ConnectionInjector } from "./grpcRuntime.js"

const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n")

/** The connection `socket` as a stream that first yields `head` (bytes already read from it). */
const replaying = (socket: net.Socket, head: Buffer): Duplex => {
  const stream = new Duplex({
    read: () => {
      socket.resume()
    },
    write: (chunk, encoding, callback) => {
      socket.write(chunk, encoding, callback)
    },
    final: (callback) => {
      socket.end(callback)
    },
    destroy: (error, callback) => {
      socket.destroy()
      callback(error)
    }
  })
  stream.push(head)
  socket.on("data", (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause()
  })
  socket.on("end", () => stream.push(null))
  socket.on("close", () => stream.destroy())
  return stream
}

/** A listening front door. */
export interface FrontDoor {
  readonly port: number
  /** Stops accepting and destroys every connection. */
  readonly close: () => Promise<void>
}

/**
 * Listens on 127.0.0.1:`port` (0: a free port). A connection that has not shown its protocol
 * within `firstBytesMs` (a client that sends nothing, or its first bytes one at a time) is
 * closed; once handed over, the server behind bounds it.
 */
export const openFrontDoor = (options: {
  readonly port: number
  readonly grpc: ConnectionInjector
  readonly http: http.Server
  readonly firstBytesMs: number
}): Promise<FrontDoor> => {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    // The servers behind get a stream, not the socket, so they cannot turn Nagle's algorithm
    // off themselves: without this, every small answer waits for the client's delayed ACK
    // (about 40 ms per gRPC call).
    socket.setNoDelay(true)
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
    socket.on("error", () => socket.destroy())
    const timer = setTimeout(() => socket.destroy(), options.firstBytesMs)
    timer.unref()
    socket.once("close", () => clearTimeout(timer))
    let head = Buffer.alloc(0)
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk])
      const known = Math.min(head.length, HTTP2_PREFACE.length)
      const mayBeHttp2 = head.subarray(0, known).equals(HTTP2_PREFACE.subarray(0, known))
      if (mayBeHttp2 && head.length < HTTP2_PREFACE.length) return // wait for the rest of the preface
      clearTimeout(timer)
      socket.off("data", onData)
      socket.pause()
      const stream = replaying(socket, head)
      if (mayBeHttp2) options.grpc.injectConnection(stream)
      else options.http.emit("connection", stream)
    }
    socket.on("data", onData)
  })
  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port, "127.0.0.1", () => {
      server.off("error", reject)
      const { port } = server.address() as net.AddressInfo
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            for (const socket of sockets) socket.destroy()
          })
      })
    })
  })
}
