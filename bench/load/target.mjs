// The HTTP target of B8, forked with an IPC channel: answers every request 200 once
// its body is read and counts them. Sends { port } once listening; answers
// { wait: n } with { received } once n requests have been answered in all, and
// { gc: true } after a full collection.
import http from "node:http"

let received = 0
const waiting = []

const server = http.createServer((request, response) => {
  request.resume()
  request.on("end", () => {
    response.writeHead(200).end()
    received++
    while (waiting.length > 0 && waiting[0] <= received) {
      waiting.shift()
      process.send({ received })
    }
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }))

process.on("message", (message) => {
  if (message.gc === true) {
    globalThis.gc?.()
    process.send({ gc: true })
  } else if (message.wait <= received) process.send({ received })
  else {
    waiting.push(message.wait)
    waiting.sort((a, b) => a - b)
  }
})
process.on("disconnect", () => process.exit(0))
