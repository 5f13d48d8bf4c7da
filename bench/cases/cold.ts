/**
 * B4: cold start of a process, ours (the built library from dist/) against what any
 * Effect application already pays. Each process reports its own figures once its
 * work is done (bench/cold/done.mjs).
 */
import { spawn } from "node:child_process"
import { join } from "node:path"
import { emulatorProcess } from "../cloud.js"
import { pairsOf, single } from "../harness.js"
import { here, quick, root, size } from "../options.js"
import { report } from "../report.js"

/** Runs a cold-start script in a new node process and resolves with its stderr. */
const node = (script: string, args: ReadonlyArray<string> = [], preload?: string) =>
  new Promise<string>((resolve, reject) => {
    const flags = preload === undefined ? [] : ["--import", preload]
    const child = spawn(process.execPath, [...flags, join(here, "cold", script), ...args], {
      cwd: root,
      stdio: ["ignore", "ignore", "pipe"]
    })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("error", reject)
    child.on("close", (code) => code === 0 ? resolve(stderr) : reject(new Error(`${script} exited ${code}: ${stderr}`)))
  })

/** The last JSON line a script printed to stderr. */
const lastLine = <A>(stderr: string): A => JSON.parse(stderr.trim().split("\n").pop()!) as A

/**
 * A cold start: wall milliseconds from the process's start, and CPU milliseconds used,
 * until its work was done. With `noGrpc`, a process that loaded a gRPC module fails the run.
 */
const cold = async (script: string, args: ReadonlyArray<string> = [], noGrpc = false) => {
  const { cpu, grpc, wall } = lastLine<{ wall: number; cpu: number; grpc: boolean }>(await node(script, args))
  if (noGrpc && grpc) throw new Error(`B4: ${script} loaded a gRPC module`)
  return { wall, cpu }
}

const modules = async (script: string) =>
  lastLine<{ modules: number; grpc: boolean }>(await node(script, [], "./bench/cold/count.mjs"))

export const coldCases = async () => {
  // CPU time is the figure with the target: on a shared machine a process's wall time
  // also counts how long it waited for a core a neighbour held, which varies from one
  // process to the next far more than the work itself does (per-pair ratios measured
  // under load: wall 0.50–1.56, CPU 0.93–1.36).
  const b4 = await pairsOf(
    { warmup: 1, min: 5, max: size(80, 40), seconds: size(45, 12) },
    () => cold("ours.mjs", [], true),
    () => cold("baseline.mjs")
  )
  report("B4", "cold start: import + one dry-run enqueue, no gRPC loaded, CPU ms (vs import effect + log once)", b4.cpu, "lower", 1.1)
  report("B4w", "the same, wall ms from the process's start", b4.wall, "lower", null)

  // Without a target, so left out of --quick (every B4 process above was checked for gRPC).
  if (quick) return
  const oursModules = await modules("ours.mjs")
  const baseModules = await modules("baseline.mjs")
  report(
    "B4m",
    `modules loaded by the B4 processes (gRPC loaded: ${oursModules.grpc})`,
    single(oursModules.modules, baseModules.modules),
    "lower",
    null
  )

  const emulator = await emulatorProcess()
  try {
    const b4c = await pairsOf(
      { warmup: 1, min: 5, max: 20, seconds: 30 },
      () => cold("cloud-ours.mjs", [emulator.host]),
      () => cold("cloud-baseline.mjs", [emulator.host])
    )
    report("B4c", "cold start of the cloud route: first enqueue, wall ms (vs eager client + createTask)", b4c.wall, "lower", null)
  } finally {
    await emulator.stop()
  }
}
