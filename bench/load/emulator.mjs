// The emulator of B8 in a process of its own, started from the built library as a
// test would start it (the command's per-attempt printing left out): the queues in
// argv, each with the settings in the JSON of argv[2]. Sends { host } once started,
// answers { gc: true } after a full collection, and stops when the parent disconnects.
import { CloudTasksEmulator } from "effect-http-tasks/emulator"

const [settings, ...queues] = process.argv.slice(2)
const emulator = await CloudTasksEmulator.start({ queues, queueSettings: JSON.parse(settings) })
process.send({ host: emulator.host })
process.on("message", (message) => {
  if (message.gc === true) {
    globalThis.gc?.()
    process.send({ gc: true })
  }
})
process.on("disconnect", () => emulator.stop().then(() => process.exit(0)))
