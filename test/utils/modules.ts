/**
 * Which modules a fresh node process loads: `script` runs as an ES module with the package
 * resolved to `src/` (as the tests import it), preloaded with `test/fixtures/module-log.mjs`.
 */
import { execFile } from "node:child_process"
import { join, relative } from "node:path"
import { promisify } from "node:util"

const root = join(import.meta.dirname, "..", "..")

/** Every module path the process loaded, and the source files among them relative to `src/`. */
export const modulesLoadedBy = async (
  script: string,
  env: NodeJS.ProcessEnv = process.env
): Promise<{ readonly all: ReadonlyArray<string>; readonly sources: ReadonlyArray<string> }> => {
  const { stderr } = await promisify(execFile)(process.execPath, [
    "--import",
    "tsx",
    "--conditions=@effect-http-tasks/source",
    "--import",
    "./test/fixtures/module-log.mjs",
    "--input-type=module",
    "-e",
    script
  ], { cwd: root, env })
  const all = JSON.parse(stderr.trim().split("\n").pop()!) as Array<string>
  const sources = all
    .filter((path) => path.startsWith(join(root, "src")))
    .map((path) => relative(join(root, "src"), path).replaceAll("\\", "/"))
  return { all, sources }
}
