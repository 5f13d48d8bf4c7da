/**
 * The emulator delivering many tasks to a target that fails 30% of its attempts (500,
 * 503, 429, or a hang past the dispatch deadline) and is killed and restarted mid-run.
 * Invariants: no task lost (each ends as succeeded), nothing delivered after the attempt
 * the emulator counted as the task's success, and every attempt's retry count, execution
 * count and previous response consistent with what the earlier attempts got. (Delivery is
 * at least once, as with Cloud Tasks: an attempt the target answered after its deadline
 * counts as missed and is tried again.)
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { CloudTasksEmulator } from "../../src/CloudTasksEmulator.js"
import { makeClient } from "../utils/emulatorClient.js"
import { report, size } from "./report.js"

const queue = "projects/p/locations/l/queues/chaos"

interface Seen {
  readonly retry: number
  readonly execution: number
  readonly previous: string | undefined
  /** What the target did: a status, or `hang` (no answer before the deadline). */
  readonly answer: number | "hang" | "refused"
}

describe("reliability: the emulator against a failing target that is killed and restarted", () => {
  it.live("every task ends as succeeded, none is delivered after it, counts agree with what came before", () =>
    Effect.gen(function*() {
      const count = size(300, 10_000)
      const seen = new Map<string, Array<Seen>>()
      let attempts = 0
      const sockets = new Set<Socket>()
      const hanging = new Set<ServerResponse>()
      const handle = (request: IncomingMessage, response: ServerResponse) => {
        request.resume()
        request.on("end", () => {
          attempts++
          const task = String(request.headers["x-cloudtasks-taskname"])
          const roll = Math.random()
          const answer: Seen["answer"] = roll < 0.1 ? 500 : roll < 0.17 ? 503 : roll < 0.24 ? 429 : roll < 0.3 ? "hang" : 200
          const list = seen.get(task) ?? []
          list.push({
            retry: Number(request.headers["x-cloudtasks-taskretrycount"]),
            execution: Number(request.headers["x-cloudtasks-taskexecutioncount"]),
            previous: request.headers["x-cloudtasks-taskpreviousresponse"] as string | undefined,
            answer
          })
          seen.set(task, list)
          if (answer === "hang") return void hanging.add(response)
          response.writeHead(answer, answer === 503 ? { "retry-after": "0" } : {}).end()
        })
      }
      const listen = (port: number) =>
        new Promise<Server>((resolve) => {
          const server = createServer(handle)
          server.on("connection", (socket) => {
            sockets.add(socket)
            socket.on("close", () => sockets.delete(socket))
          })
          server.listen(port, "127.0.0.1", () => resolve(server))
        })
      const kill = (server: Server) =>
        new Promise<void>((resolve) => {
          for (const response of hanging) response.destroy()
          hanging.clear()
          for (const socket of sockets) socket.destroy()
          server.close(() => resolve())
        })

      let target = yield* Effect.promise(() => listen(0))
      const port = (target.address() as AddressInfo).port
      const emulator = yield* Effect.acquireRelease(
        Effect.promise(() =>
          CloudTasksEmulator.start({
            queues: [queue],
            queueSettings: {
              maxAttempts: -1,
              minBackoff: "5 millis",
              maxBackoff: "50 millis",
              maxConcurrentDispatches: 200
            },
            minDispatchDeadline: "200 millis",
            attemptLogLimit: 4 * count
          })
        ),
        (running) => Effect.promise(() => running.stop())
      )
      const client = makeClient(emulator.host)
      yield* Effect.addFinalizer(() => Effect.promise(() => client.close()))

      const started = performance.now()
      const names: Array<string> = []
      let next = 0
      let killed = false
      const create = async () => {
        while (next < count) {
          next++
          const [task] = await client.createTask({
            parent: queue,
            task: {
              httpRequest: { httpMethod: "POST", url: `http://127.0.0.1:${port}/t`, body: Buffer.from("{}") },
              dispatchDeadline: { seconds: 0, nanos: 200_000_000 }
            }
          })
          names.push(task.name!)
          // A third of the way in: the target goes away for a while, then comes back.
          if (!killed && names.length >= count / 3) {
            killed = true
            await kill(target)
            await new Promise((resolve) => setTimeout(resolve, 300))
            target = await listen(port)
          }
        }
      }
      yield* Effect.promise(() => Promise.all(Array.from({ length: 16 }, create)))
      const created = performance.now()
      const outcomes = yield* Effect.promise(() =>
        Promise.all(names.map((name) => emulator.waitForTask(name, { timeout: size("60 seconds", "300 seconds") })))
      )
      const finished = performance.now()
      yield* Effect.promise(() => kill(target))

      // No task lost: each one ended, as succeeded.
      expect(outcomes.filter((outcome) => outcome.result !== "succeeded")).toEqual([])
      let afterSuccess = 0
      // Each attempt's counts follow from the earlier attempts of its task: the retry count
      // counts them all, the execution count those answered with anything but a 5xx
      // (429 included); the previous response is the last status (504 after a missed deadline).
      for (const outcome of outcomes) {
        const task = outcome.task.split("/").pop()!
        const recorded = outcome.attempts
        const received = seen.get(task) ?? []
        let executions = 0
        recorded.forEach((attempt, k) => {
          expect(Number(attempt.headers["X-CloudTasks-TaskRetryCount"])).toBe(k)
          expect(Number(attempt.headers["X-CloudTasks-TaskExecutionCount"])).toBe(executions)
          const previous = recorded[k - 1]
          const expected = previous === undefined
            ? undefined
            : previous.status !== undefined
            ? String(previous.status)
            : previous.error?.startsWith("DEADLINE_EXCEEDED")
            ? "504"
            : undefined
          expect(attempt.headers["X-CloudTasks-TaskPreviousResponse"]).toBe(expected)
          if (attempt.status !== undefined && attempt.status < 500) executions++
        })
        // The success is the task's last attempt, and the target saw nothing after it.
        expect(recorded.findIndex((attempt) => attempt.succeeded)).toBe(recorded.length - 1)
        afterSuccess += received.filter((attempt) => attempt.retry > recorded.length - 1).length
        // Every answer the emulator recorded came from the target, for that attempt.
        for (const attempt of recorded) {
          if (attempt.status === undefined) continue
          const retry = Number(attempt.headers["X-CloudTasks-TaskRetryCount"])
          expect(received.find((seen) => seen.retry === retry)?.answer).toBe(attempt.status)
        }
      }
      expect(afterSuccess).toBe(0)
      report("emulator against a failing, restarted target", {
        tasks: count,
        attempts: outcomes.reduce((sum, outcome) => sum + outcome.attempts.length, 0),
        "attempts the target saw": attempts,
        lost: outcomes.filter((outcome) => outcome.result !== "succeeded").length,
        "delivered after success": afterSuccess,
        "created/s": Math.round((count / (created - started)) * 1000),
        "delivered/s": Math.round((count / (finished - started)) * 1000)
      })
    }).pipe(Effect.scoped), { timeout: 600_000 })
})
