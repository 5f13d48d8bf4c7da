// Cold start baseline for the cloud route: import effect and @google-cloud/tasks
// eagerly and create one task with the official client.
import { CloudTasksClient } from "@google-cloud/tasks"
import { Effect } from "effect"
import { createRequire } from "node:module"
import { done } from "./done.mjs"

const require = createRequire(import.meta.url)
const gax = createRequire(require.resolve("@google-cloud/tasks"))("google-gax")
const [servicePath, port] = process.argv[2].split(":")
const client = new CloudTasksClient({
  servicePath,
  port: Number(port),
  sslCreds: gax.grpc.credentials.createInsecure(),
  universeDomain: "googleapis.com"
})
await Effect.runPromise(Effect.promise(() =>
  client.createTask({
    parent: "projects/bench/locations/l/queues/q",
    task: {
      httpRequest: { httpMethod: "POST", url: "http://127.0.0.1:9/api/tasks/transcribe", body: Buffer.from("{}") },
      scheduleTime: { seconds: Math.floor(Date.now() / 1000) + 3600 }
    }
  })
))
await client.close()
done()
