/**
 * A new user's first hour, in CI: pack the library, create a fresh app in a temporary folder
 * outside the repository, run the README's install lines word for word (the tarball in place
 * of the package name), type-check the README's code against what they installed (strict,
 * NodeNext), run examples/app.ts in dev and compare its output with the README's, and run the
 * README's tests with vitest (emulator.test.ts goes through the Cloud Tasks emulator with the
 * client in production mode).
 *
 * Before installing, it checks the tarball's file list (what a consumer needs, nothing else),
 * and that the README pins every package it installs, with the same ranges as the
 * peerDependencies (npm's `latest` is effect 4 now: an unpinned line breaks the day it moves).
 *
 *   node .ci/fresh-app.mjs              run by .ci/run after the tests
 *   KEEP_APP=1 node .ci/fresh-app.mjs   keep the app folder (it is kept anyway on a failure)
 */
import { spawnSync } from "node:child_process"
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, posix, relative } from "node:path"

const root = join(import.meta.dirname, "..")
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"))
const readme = readFileSync(join(root, "README.md"), "utf8")
/** The temporary folder of the tarball and the app, once made. */
let work

const say = (line) => console.log(`fresh-app: ${line}`)
const fail = (problem) => {
  console.error(`\nfresh-app: FAILED: ${problem}`)
  if (work !== undefined) console.error(`fresh-app: the tarball and the app are kept in ${work}`)
  process.exit(1)
}

/** Runs a command line through bash in `cwd`; its output is printed, and a non-zero exit fails the check. */
const run = (line, cwd, env = process.env) => {
  console.log(`\n$ ${line}`)
  const result = spawnSync(line, { cwd, env, shell: "/bin/bash", encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`
  process.stdout.write(output)
  if (result.status !== 0) fail(`\`${line}\` exited with ${result.status ?? result.signal} in ${cwd}`)
  return output
}

// ---------------------------------------------------------------------------------------------
// What the README says to install

/** The `sh` block of the README's Install section, its command lines as written. */
const installLines = (() => {
  const section = readme.split(/^## /m).find((part) => part.startsWith("Install\n"))
  const block = section?.match(/^```sh\n([\s\S]*?)^```$/m)?.[1]
  if (block === undefined) fail("README.md has no \"## Install\" section with a ```sh block")
  return block.split("\n").filter((line) => line.trim() !== "" && !line.trimStart().startsWith("#"))
})()

/** The package arguments of an `npm install` line (flags and the trailing comment left out). */
const packagesOf = (line) => {
  const [command, verb, ...args] = line.replace(/\s+#.*$/, "").trim().split(/\s+/)
  if (command !== "npm" || !["install", "i", "add"].includes(verb)) fail(`not an npm install line in the README's Install section: ${line}`)
  return args.filter((arg) => !arg.startsWith("-"))
}
const specs = installLines.flatMap(packagesOf).map((spec) => {
  const at = spec.indexOf("@", 1)
  return at === -1 ? { name: spec, range: undefined } : { name: spec.slice(0, at), range: spec.slice(at + 1) }
})

/** `^3.22` and `^3.22.0` are the same range. */
const normalize = (range) => range.replace(/^([~^]?)(\d+)(?:\.(\d+))?(?:\.(\d+))?$/, (_, op, a, b = "0", c = "0") => `${op}${a}.${b}.${c}`)

const checkPins = () => {
  if (specs.filter(({ name }) => name === pkg.name).length !== 1) fail(`the README's install lines must install ${pkg.name} once`)
  for (const { name, range } of specs) {
    if (name === pkg.name) continue
    if (range === undefined) fail(`the README installs ${name} unpinned; npm's latest may be effect 4: write ${name}@<range>`)
    const peer = pkg.peerDependencies?.[name]
    if (peer !== undefined && normalize(peer) !== normalize(range)) {
      fail(`the README installs ${name}@${range} but package.json's peerDependencies say ${peer}: make them agree`)
    }
  }
  for (const name of Object.keys(pkg.peerDependencies ?? {})) {
    if (!specs.some((spec) => spec.name === name)) fail(`peer dependency ${name} is not installed by the README's install lines`)
  }
  say(`the README pins ${specs.length - 1} packages, peers as in package.json`)
}

// ---------------------------------------------------------------------------------------------
// The tarball

/** Only what a consumer needs: the manifest, README, LICENSE, the build and the sources its maps point to. */
const checkFiles = (unpacked) => {
  const list = (dir) =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? list(join(dir, entry.name)) : [relative(unpacked, join(dir, entry.name)).split("\\").join("/")]
    )
  const files = new Set(list(unpacked))
  const problems = []
  for (const required of ["package.json", "README.md", "LICENSE"]) {
    if (!files.has(required)) problems.push(`${required} is missing`)
  }
  for (const file of files) {
    const fromSrc = file.match(/^src\/(.+)\.ts$/)
    const fromDist = file.match(/^dist\/(.+?)\.(js|js\.map|d\.ts|d\.ts\.map)$/)
    if (["package.json", "README.md", "LICENSE"].includes(file)) continue
    if (fromSrc !== null && !/\.(test|spec)\.ts$/.test(file)) {
      for (const ext of ["js", "js.map", "d.ts", "d.ts.map"]) {
        if (!files.has(`dist/${fromSrc[1]}.${ext}`)) problems.push(`${file} has no dist/${fromSrc[1]}.${ext}`)
      }
    } else if (fromDist !== null) {
      if (!files.has(`src/${fromDist[1]}.ts`)) problems.push(`${file} has no source (a stale build output?)`)
      if (fromDist[2].endsWith(".map")) {
        for (const source of JSON.parse(readFileSync(join(unpacked, file), "utf8")).sources) {
          const target = posix.normalize(posix.join(posix.dirname(file), source))
          if (!files.has(target)) problems.push(`${file} points to ${target}, which is not shipped`)
        }
      }
    } else {
      problems.push(`${file} is not for consumers`)
    }
  }
  const targets = (value) =>
    typeof value === "string" ? [value] : value === null || value === undefined ? [] : Object.values(value).flatMap(targets)
  const manifest = JSON.parse(readFileSync(join(unpacked, "package.json"), "utf8"))
  for (const target of [manifest.main, manifest.types, ...targets(manifest.bin), ...targets(manifest.exports)]) {
    if (target !== undefined && !target.includes("*") && !files.has(posix.normalize(target))) {
      problems.push(`package.json names ${target}, which is not shipped`)
    }
  }
  if (problems.length > 0) fail(`the tarball's file list:\n  ${problems.join("\n  ")}`)
  say(`the tarball holds ${files.size} files: package.json, README.md, LICENSE, dist/ (JavaScript, declarations, maps) and the src/ they map to`)
}

// ---------------------------------------------------------------------------------------------
// The run

/** The README's code an app would write: the application example and test/examples/readme/. */
const appFiles = [
  ["examples/app.ts", "app.ts"],
  ["test/examples/readme", "readme"]
]

/** A task's generated id: 20 random digits, different on every run. */
const anyId = (line) => line.replace(/\/\d{20}\b/g, "/<id>")

/** What the README says the app prints (the ```text block after it), timestamps and fibers left out. */
const expectedOutput = () => {
  const after = readme.slice(readme.indexOf("## Using it in an Effect application"))
  const block = after.match(/^```text\n([\s\S]*?)^```$/m)?.[1]
  if (block === undefined) fail("README.md shows no ```text output for the application example")
  return block.trim().split("\n").map(anyId)
}

const main = () => {
  checkPins()
  work = mkdtempSync(join(realpathSync(tmpdir()), `${pkg.name}-fresh-app-`))
  if (!relative(root, work).startsWith("..")) fail(`the app folder ${work} is inside the repository`)

  run(`npm pack --pack-destination ${JSON.stringify(work)}`, root)
  const tarball = join(work, readdirSync(work).find((file) => file.endsWith(".tgz")) ?? fail("npm pack wrote no tarball"))
  const unpacked = join(work, "tarball")
  mkdirSync(unpacked)
  run(`tar -xzf ${JSON.stringify(tarball)} -C ${JSON.stringify(unpacked)} --strip-components=1`, work)
  checkFiles(unpacked)

  const app = join(work, "app")
  mkdirSync(app)
  run("npm init -y && npm pkg set type=module", app)
  for (const line of installLines) {
    const output = run(line.replace(new RegExp(`(^|\\s)${pkg.name}(?=\\s|$)`), `$1${JSON.stringify(tarball)}`), app)
    if (/\bERESOLVE\b|overriding peer/i.test(output)) fail(`\`${line}\` warned about peer dependencies`)
  }
  // The app's own tooling, as this repository pins it (typescript's latest is 7, not tsc 5).
  const { typescript, "@types/node": typesNode } = pkg.devDependencies
  run(`npm install --save-dev typescript@${typescript} @types/node@${typesNode}`, app)

  for (const [from, to] of appFiles) cpSync(join(root, from), join(app, to), { recursive: true })
  // A user's tsconfig. skipLibCheck as `tsc --init` writes it: without it, tsc stops in
  // @effect/platform-node-shared's declarations (they import 'ws', which has no types there).
  writeFileSync(
    join(app, "tsconfig.json"),
    JSON.stringify(
      {
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          skipLibCheck: true,
          outDir: "build"
        },
        include: appFiles.map(([, to]) => to)
      },
      null,
      2
    )
  )
  run("npx --no -- tsc -p .", app)
  say("the README's code type-checks against the installed packages (strict, NodeNext)")

  // In dev: no variables but what finds node.
  const printed = run("node build/app.js", app, { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" })
    .trim().split("\n").map((line) => line.replace(/^timestamp=\S+ /, "").replace(/ fiber=#\d+/, "")).map(anyId)
  const expected = expectedOutput()
  if (printed.length !== expected.length || expected.some((line) => !printed.includes(line))) {
    fail(`the app printed:\n  ${printed.join("\n  ")}\nwhere the README says:\n  ${expected.join("\n  ")}`)
  }
  say("the application example runs in dev and prints what the README shows")

  run("npx --no -- vitest run --dir readme --silent=passed-only --reporter=default --reporter=json --outputFile=vitest.json", app)
  const report = JSON.parse(readFileSync(join(app, "vitest.json"), "utf8"))
  const emulatorTest = report.testResults.find(({ name }) => name.endsWith("readme/emulator.test.ts"))
  if (emulatorTest?.status !== "passed") fail("readme/emulator.test.ts, the test through the emulator, did not run and pass")
  say(`the README's tests pass (${report.numPassedTests}), emulator.test.ts through the emulator in production mode`)

  if (process.env.KEEP_APP === undefined) rmSync(work, { recursive: true, force: true })
  else say(`the tarball and the app are kept in ${work}`)
  say(`passed: ${installLines.length} install lines, ${pkg.name} from its tarball`)
}

main()
