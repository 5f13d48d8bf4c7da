// Cold start of the cloud route: the first enqueue to the emulator at the host given
// in argv[2], with @google-cloud/tasks and gRPC loaded lazily on that first call.
import { Effect } from "effect"
import { enqueueHttpTask, TasksClient } from "effect-http-tasks"
import { done } from "./done.mjs"

await Effect.runPromise(
  enqueueHttpTask("/api/tasks/transcribe", { filename: "a.wav" }, { delay: "1 hour" }).pipe(
    Effect.provide(
      TasksClient.layerWith({
        appEnv: "production",
        project: "bench",
        location: "l",
        queue: "q",
        urlBase: "http://127.0.0.1:9",
        auth: "bench-secret",
        emulatorHost: process.argv[2]
      })
    )
  )
)
done()
