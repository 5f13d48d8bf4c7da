/**
 * The dashboard of an engine on a port of its own, on 127.0.0.1: what the in-process queue of
 * the local route serves when `TASKS_DASHBOARD_PORT` asks for it (the emulator mounts the
 * dashboard on its own port instead). Loaded only then.
 *
 * @internal
 */
import * as http from "node:http"
import type * as net from "node:net"
import type { Engine } from "../engine/engine.js"
import { type DashboardOptions, makeDashboard } from "./dashboard.js"

/** A listening dashboard. */
export interface DashboardServer {
  /** `http://127.0.0.1:<port>/`. */
  readonly url: string
  /** Ends the page's event streams, stops listening and closes every connection. */
  readonly close: () => Promise<void>
}

/** Serves the dashboard of `engine` on 127.0.0.1:`port` (0: a free port). */
export const serveDashboard = (
  engine: Engine,
  options: DashboardOptions & { readonly port: number }
): Promise<DashboardServer> => {
  const dashboard = makeDashboard(engine, options)
  const server = http.createServer((request, response) => {
    if (!dashboard.handle(request, response)) {
      response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("Not found\n")
    }
  })
  return new Promise((resolve, reject) => {
    const failed = (error: Error) => {
      dashboard.close()
      reject(error)
    }
    server.once("error", failed)
    server.listen(options.port, "127.0.0.1", () => {
      server.off("error", failed)
      const { port } = server.address() as net.AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}/`,
        close: () =>
          new Promise<void>((done) => {
            dashboard.close()
            server.close(() => done())
            server.closeAllConnections()
          })
      })
    })
  })
}
