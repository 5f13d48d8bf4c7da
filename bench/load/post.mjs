// The load generator of B7 and B8, forked with an IPC channel: for each message
// { url, headers, body, concurrency, ms | count } it POSTs `body` to `url` from
// `concurrency` keep-alive connections, for `ms` milliseconds or `count` requests,
// and answers { requests, ms, p50, p99, failures } (latencies in milliseconds);
// { gc: true } is answered after a full collection.
// Plain node:http, so that it costs the same whichever server it loads.
import http from "node:http"
import { performance } from "node:perf_hooks"

/** One keep-alive pool per origin and concurrency, kept across runs: each run starts warm. */
const agents = new Map()
const agentFor = (url, concurrency) => {
  const key = `${url.host} ${concurrency}`
  let agent = agents.get(key)
  if (agent === undefined) {
    agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
    agents.set(key, agent)
  }
  return agent
}

/**
 * The status of one POST, 0 when there was none. A kept-alive connection that the server
 * closed while idle (Node's servers do after 5 s) fails as it is reused: that request is
 * sent again on a new connection, as Node's documentation advises, not counted as failed.
 */
const post = (options, body) =>
  new Promise((resolve) => {
    const request = http.request(options, (response) => {
      response.resume()
      response.on("end", () => resolve(response.statusCode))
      response.on("error", () => resolve(0))
    })
    request.on("error", (error) => {
      resolve(request.reusedSocket && error.code === "ECONNRESET" ? post(options, body) : 0)
    })
    request.end(body)
  })

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]

const run = async ({ body, concurrency, count, headers, ms, url }) => {
  const target = new URL(url)
  const payload = Buffer.from(body)
  const options = {
    host: target.hostname,
    port: target.port,
    path: target.pathname,
    method: "POST",
    agent: agentFor(target, concurrency),
    headers: { ...headers, "content-length": String(payload.length) }
  }
  const latencies = []
  let failures = 0
  let issued = 0
  const start = performance.now()
  const deadline = ms === undefined ? Infinity : start + ms
  const more = () => (count === undefined || issued < count) && performance.now() < deadline
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (more()) {
      issued++
      const sent = performance.now()
      const status = await post(options, payload)
      latencies.push(performance.now() - sent)
      if (status !== 200) failures++
    }
  }))
  const elapsed = performance.now() - start
  latencies.sort((a, b) => a - b)
  return {
    requests: latencies.length,
    ms: elapsed,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    failures
  }
}

process.on("message", (message) => {
  if (message.gc === true) {
    globalThis.gc?.()
    process.send({ gc: true })
    return
  }
  run(message).then((result) => process.send(result))
})
process.on("disconnect", () => process.exit(0))
