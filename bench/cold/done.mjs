// Imported by every cold-start script and called once its work is done: prints to
// stderr, as one JSON line, the milliseconds since the process started (wall) and the
// CPU milliseconds it has used (user + system, every thread), so that the parent
// measures neither its own spawning nor the child's exit.
import { performance } from "node:perf_hooks"

export const done = () => {
  const cpu = process.cpuUsage()
  process.stderr.write(JSON.stringify({ wall: performance.now(), cpu: (cpu.user + cpu.system) / 1000 }) + "\n")
}
