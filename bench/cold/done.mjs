// Imported by every cold-start script and called once its work is done: prints to
// stderr, as one JSON line, the milliseconds since the process started (wall), the
// CPU milliseconds it has used (user + system, every thread), and whether a gRPC
// module is loaded (they are CommonJS, so require's cache lists them), so that the
// parent measures neither its own spawning nor the child's exit.
import Module from "node:module"
import { performance } from "node:perf_hooks"

export const done = () => {
  const cpu = process.cpuUsage()
  const grpc = Object.keys(Module._cache).some((path) => /[/\\](@grpc|google-gax)[/\\]/.test(path))
  process.stderr.write(JSON.stringify({ wall: performance.now(), cpu: (cpu.user + cpu.system) / 1000, grpc }) + "\n")
}
