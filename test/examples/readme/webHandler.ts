// The README's Fetch API example, verbatim (type-checked, not imported).
import { Layer } from "effect"
import { TaskServer, toWebHandler } from "effect-http-tasks/server"
import { TaskHandlersLive } from "./taskOnce.js"

export const { dispose, handler } = toWebHandler(TaskServer.layer.pipe(Layer.provide(TaskHandlersLive)))
// Hono: app.post("/api/tasks/*", (c) => handler(c.req.raw))
// on shutdown: await dispose()  (waits for background handlers)
