/**
 * B6: the emulator's delivery rate against a queue limited to 300 dispatches/s. Each
 * round's rate is its own "pair" against the configured rate.
 */
import { CloudTasksEmulator } from "effect-http-tasks/emulator"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { officialClient, QUEUE } from "../cloud.js"
import { pool, summarise } from "../harness.js"
import { size } from "../options.js"
import { report } from "../report.js"

export const deliveryCase = async () => {
  const rate = 300
  const n = size(1500, 450)
  const server = createServer((req, res) => {
    req.resume()
    req.on("end", () => res.writeHead(200).end())
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/t`
  const emulator = await CloudTasksEmulator.start({ queues: [QUEUE], queueSettings: { maxDispatchesPerSecond: rate } })
  const client = officialClient(emulator.host)
  try {
    const measured: Array<number> = []
    for (let round = 0; round < size(3, 2); round++) {
      await client.pauseQueue({ name: QUEUE })
      await pool(n, 32, () =>
        client.createTask({ parent: QUEUE, task: { httpRequest: { httpMethod: "POST", url, body: Buffer.from("{}") } } }))
      const seen = emulator.attempts().length
      await client.resumeQueue({ name: QUEUE })
      await emulator.waitForAttempts(seen + n, { timeout: "60 seconds" })
      const starts = emulator.attempts().slice(seen).map((a) => a.startedAt.getTime()).sort((a, b) => a - b)
      measured.push(((n - 1) / (starts[starts.length - 1]! - starts[0]!)) * 1000)
    }
    report(
      "B6",
      `emulator delivery of ${n} tasks at maxDispatchesPerSecond ${rate}, tasks/s (vs ${rate})`,
      summarise(measured, [rate], measured.map((r) => r / rate)),
      "higher",
      0.9
    )
  } finally {
    await client.close()
    await emulator.stop()
    server.close()
  }
}
