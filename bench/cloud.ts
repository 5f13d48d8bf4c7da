/**
 * The Cloud Tasks side shared by the cases: the official client pointed at an
 * emulator, the raw task a user would build by hand, and the emulator started as a
 * separate process with the package's bin.
 */
import { CloudTasksClient } from "@google-cloud/tasks"
import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import { join } from "node:path"
import { root } from "./options.js"

export const QUEUE = "projects/bench/locations/l/queues/q"

const require = createRequire(import.meta.url)
const gax = createRequire(require.resolve("@google-cloud/tasks"))("google-gax") as typeof import("google-gax")

/** The official client of the emulator at `host` ("127.0.0.1:<port>"), plaintext. */
export const officialClient = (host: string): CloudTasksClient => {
  const [servicePath, port] = host.split(":")
  return new CloudTasksClient({
    servicePath: servicePath!,
    port: Number(port),
    sslCreds: gax.grpc.credentials.createInsecure(),
    universeDomain: "googleapis.com"
  })
}

/** The payload every case sends. */
export const payload = { filename: "gs://bucket/a.wav", user_id: "123" }
export const body = JSON.stringify(payload)
export const secret = "bench-secret"
export const headers = { "Content-Type": "application/json", "X-Tasks-Auth": secret }

/** The CreateTask request a user of the raw client would build: what our cloud route sends. */
export const rawTask = (url = "http://127.0.0.1:9/api/tasks/transcribe", parent = QUEUE) => ({
  parent,
  task: {
    httpRequest: { httpMethod: "POST" as const, url, headers, body: Buffer.from(body) },
    dispatchDeadline: { seconds: 1800 }
  }
})

/**
 * The emulator in a process of its own, started with the package's bin as a user
 * would: like the real service, it is remote, so the figures measure the client
 * side (ours or the raw client) and not the emulator sharing its event loop.
 */
export const emulatorProcess = () =>
  new Promise<{ readonly host: string; readonly stop: () => Promise<void> }>((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, "dist", "bin.js"), "emulator", "--queue", QUEUE], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.on("error", reject)
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      const host = /CLOUD_TASKS_EMULATOR_HOST=(\S+)/.exec(out)?.[1]
      if (host !== undefined && out.includes("queue:")) {
        child.stdout.removeAllListeners("data")
        child.stdout.resume()
        resolve({
          host,
          stop: () =>
            new Promise<void>((done) => {
              child.on("close", () => done())
              child.kill("SIGINT")
            })
        })
      }
    })
  })
