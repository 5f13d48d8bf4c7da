/**
 * The helper processes of B7 and B8 (bench/load/*.mjs), forked with an IPC channel:
 * a load generator, an HTTP target that counts what it receives, and an emulator.
 * Each speaks one message at a time: the parent sends, then awaits the next answer.
 */
import { type ChildProcess, fork } from "node:child_process"
import { join } from "node:path"
import { here, root } from "./options.js"

interface Child {
  /** Sends `message` and resolves with the child's next message. */
  readonly ask: <A>(message: object) => Promise<A>
  /** Resolves with the child's next message. */
  readonly next: <A>() => Promise<A>
  /** Disconnects; the child stops on its own. */
  readonly stop: () => Promise<void>
}

const child = (script: string, args: ReadonlyArray<string> = []): Child => {
  const proc: ChildProcess = fork(join(here, "load", script), args, {
    cwd: root,
    execArgv: ["--expose-gc"],
    stdio: ["ignore", "inherit", "inherit", "ipc"]
  })
  const next = <A>() =>
    new Promise<A>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`bench/load/${script} exited with ${code}`))
      proc.once("exit", onExit)
      proc.once("message", (message) => {
        proc.off("exit", onExit)
        resolve(message as A)
      })
    })
  return {
    next,
    ask: <A>(message: object) => {
      const answer = next<A>()
      proc.send(message)
      return answer
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || !proc.connected) return resolve()
        proc.once("exit", () => resolve())
        proc.disconnect()
      })
  }
}

/** A full collection in the child's process, as the harness makes one in this process before each side. */
const collectIn = (process: Child) => process.ask({ gc: true })

/** What one run of the load generator measured (milliseconds). */
export interface Load {
  readonly requests: number
  readonly ms: number
  readonly p50: number
  readonly p99: number
  readonly failures: number
}

export interface LoadRun {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  readonly concurrency: number
  /** Run for this long … */
  readonly ms?: number
  /** … or send this many requests. */
  readonly count?: number
}

/** The load generator (bench/load/post.mjs). */
export const loadGenerator = () => {
  const generator = child("post.mjs")
  return {
    run: async (run: LoadRun): Promise<Load> => {
      const load = await generator.ask<Load>(run)
      if (load.failures > 0) throw new Error(`${load.failures} of ${load.requests} requests to ${run.url} did not answer 200`)
      return load
    },
    collect: () => collectIn(generator),
    stop: generator.stop
  }
}

/** The counting HTTP target (bench/load/target.mjs). */
export const countingTarget = async () => {
  const target = child("target.mjs")
  const { port } = await target.next<{ port: number }>()
  return {
    url: `http://127.0.0.1:${port}/api/tasks/transcribe`,
    /** Resolves once `total` requests have been answered since the target started. */
    received: (total: number) => target.ask<{ received: number }>({ wait: total }),
    collect: () => collectIn(target),
    stop: target.stop
  }
}

/** The emulator in a process of its own (bench/load/emulator.mjs), with `queues` created at start. */
export const emulatorChild = async (queues: ReadonlyArray<string>, settings: object) => {
  const emulator = child("emulator.mjs", [JSON.stringify(settings), ...queues])
  const { host } = await emulator.next<{ host: string }>()
  return { host, collect: () => collectIn(emulator), stop: emulator.stop }
}
