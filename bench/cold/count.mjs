// Preloaded with --import: counts the modules a process loads (ESM through a load
// hook, CommonJS through require's cache) and whether any gRPC module is among them.
// Prints one JSON line to stderr at exit.
import { readFileSync, rmSync, writeFileSync } from "node:fs"
import Module, { register } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"

const log = join(tmpdir(), `effect-http-tasks-modules-${process.pid}.txt`)
writeFileSync(log, "")
register("./count-hooks.mjs", import.meta.url, { data: { log } })
process.on("exit", () => {
  const esm = readFileSync(log, "utf8").split("\n").filter((line) => line !== "" && !line.startsWith("node:"))
  rmSync(log, { force: true })
  const cjs = Object.keys(Module._cache)
  const all = [...new Set([...esm.map((url) => url.replace(/^file:\/\//, "")), ...cjs])]
  process.stderr.write(
    JSON.stringify({ modules: all.length, grpc: all.some((path) => /[/\\](@grpc|google-gax)[/\\]/.test(path)) }) + "\n"
  )
})
