/**
 * TasksConfig: what the enqueuing side reads from the environment or explicit values.
 *
 * Equivalent mutants: the APP_ENV note only in production (appEnvNote says nothing for dev/test
 * anyway); the anchors of the `[host]` bracket strip (the host:port pattern only lets brackets
 * through around the whole host).
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, FastCheck as fc, Layer, Option, Redacted } from "effect"
import { ConfigError, Events, TasksConfig, type TasksConfigInput } from "../src/index.js"
import { unreadableConfig } from "./utils/config.js"
import { captureLogs } from "./utils/logs.js"

const fromEnv = (env: Record<string, string>) =>
  TasksConfig.pipe(
    Effect.provide(TasksConfig.layer.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson(env)))))
  )

const production = {
  APP_ENV: "production",
  GOOGLE_CLOUD_PROJECT: "p",
  TASKS_LOCATION: "us-west1",
  TASKS_QUEUE: "q",
  TASKS_URL_BASE: "https://api.example.com/",
  TASKS_AUTH: "prod-secret"
}

const casing = (word: string) =>
  fc.tuple(fc.array(fc.boolean(), { minLength: word.length, maxLength: word.length }), fc.constantFrom("", " ", "  "))
    .map(([upper, pad]) => pad + [...word].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join("") + pad)

describe("booleans", () => {
  it.effect.prop(
    "true/1/yes/on and false/0/no/off/\"\" parse in any case",
    {
      value: fc.boolean().chain((value) =>
        fc.constantFrom(...(value ? ["true", "1", "yes", "on"] : ["false", "0", "no", "off", ""]))
          .chain(casing)
          .map((text) => [value, text] as const)
      )
    },
    ({ value: [value, text] }) =>
      Effect.gen(function*() {
        const config = yield* fromEnv({ TASKS_DRY_RUN: text, USE_WORKER_IN_DEV: text, TASKS_FORCE_HTTP_LOOPBACK: "0" })
        expect(config.dryRun).toBe(value)
        expect(config.useWorkerInDev).toBe(value)
      })
  )

  it.effect.prop(
    "anything else is a ConfigError naming the variable, never silently false",
    {
      text: fc.string({ maxLength: 8 }).filter((s) =>
        !["true", "1", "yes", "on", "false", "0", "no", "off", ""].includes(s.trim().toLowerCase())
      )
    },
    ({ text }) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(fromEnv({ USE_WORKER_IN_DEV: text }))
        expect(error).toBeInstanceOf(ConfigError)
        expect(error.variables).toEqual(["USE_WORKER_IN_DEV"])
        expect(error.message).toContain("USE_WORKER_IN_DEV")
      })
  )
})

describe("APP_ENV", () => {
  it.effect.prop(
    "dev/development/local/unset is dev, test/testing is test, anything else is production-like",
    {
      value: fc.oneof(
        fc.constantFrom("dev", "development", "local", "test", "testing", "production", "staging").chain(casing),
        fc.string({ maxLength: 10 })
      )
    },
    ({ value }) =>
      Effect.gen(function*() {
        const normal = value.trim().toLowerCase()
        const expected = ["", "dev", "development", "local"].includes(normal)
          ? "dev"
          : ["test", "testing"].includes(normal)
          ? "test"
          : "production"
        const config = yield* fromEnv({ ...production, APP_ENV: value })
        expect(config.appEnv).toBe(expected)
      })
  )
})

describe("production fails closed", () => {
  it.effect("names every missing variable in one ConfigError and logs config_missing", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const error = yield* Effect.flip(fromEnv({ APP_ENV: "staging", TASKS_FORCE_HTTP_LOOPBACK: "true" }))
      expect([...error.variables].sort()).toEqual([
        "GOOGLE_CLOUD_PROJECT",
        "TASKS_AUTH",
        "TASKS_FORCE_HTTP_LOOPBACK",
        "TASKS_LOCATION",
        "TASKS_QUEUE",
        "TASKS_URL_BASE"
      ])
      for (const name of error.variables) expect(error.message).toContain(name)
      expect(logs.events()).toEqual([Events.configMissing])
    }).pipe(Effect.provide(layer))
  })

  it.effect("refuses the development default secret, and an invalid URL, together", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        fromEnv({ ...production, TASKS_AUTH: "a-secure-local-secret", TASKS_URL_BASE: "ftp://x" })
      )
      expect([...error.variables].sort()).toEqual(["TASKS_AUTH", "TASKS_URL_BASE"])
      expect(error.message).not.toContain("a-secure-local-secret")
    }))

  it.effect("accepts no TASKS_AUTH when an OIDC service account is configured", () =>
    Effect.gen(function*() {
      const { TASKS_AUTH: _, ...rest } = production
      const config = yield* fromEnv({ ...rest, TASKS_SERVICE_ACCOUNT_EMAIL: "tasks@p.iam.gserviceaccount.com" })
      expect(Option.isNone(config.auth)).toBe(true)
      expect(config.serviceAccountEmail).toEqual(Option.some("tasks@p.iam.gserviceaccount.com"))
    }))

  it.effect("a complete production configuration resolves, trailing slash dropped, secret redacted", () =>
    Effect.gen(function*() {
      const config = yield* fromEnv({ ...production, CLOUD_TASKS_EMULATOR_HOST: "127.0.0.1:8123" })
      expect(config.appEnv).toBe("production")
      expect(config.urlBase).toEqual(Option.some("https://api.example.com"))
      expect(config.queue).toEqual(Option.some({ project: "p", location: "us-west1", queue: "q" }))
      expect(config.emulatorHost).toEqual(Option.some({ host: "127.0.0.1", port: 8123 }))
      expect(Option.map(config.auth, Redacted.value)).toEqual(Option.some("prod-secret"))
      expect(String(config.auth)).not.toContain("prod-secret")
    }))

  it.effect("dry-run in production needs no queue", () =>
    Effect.gen(function*() {
      const config = yield* fromEnv({ APP_ENV: "production", TASKS_DRY_RUN: "true" })
      expect(config.dryRun).toBe(true)
    }))
})

describe("dev and test", () => {
  it.effect("an unset TASKS_AUTH is the development default, marked as such", () =>
    Effect.gen(function*() {
      const config = yield* fromEnv({})
      expect(config.appEnv).toBe("dev")
      expect(Option.map(config.auth, Redacted.value)).toEqual(Option.some("a-secure-local-secret"))
      expect(config.authDefaulted).toBe(true)
    }))

  it.effect("a forced loopback needs TASKS_URL_BASE; bad URLs and emulator hosts are named", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        fromEnv({ TASKS_FORCE_HTTP_LOOPBACK: "yes", TASKS_URL_BASE: "", CLOUD_TASKS_EMULATOR_HOST: "nope" })
      )
      expect([...error.variables].sort()).toEqual(["CLOUD_TASKS_EMULATOR_HOST", "TASKS_URL_BASE"])
    }))

  it.effect("CLOUD_TASKS_EMULATOR_HOST is host:port: a scheme is refused with what to write instead", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(fromEnv({ CLOUD_TASKS_EMULATOR_HOST: "http://127.0.0.1:8123" }))
      expect(error.variables).toEqual(["CLOUD_TASKS_EMULATOR_HOST"])
      expect(error.message).toContain(`must be host:port without a scheme`)
      expect(error.message).toContain(`e.g. "127.0.0.1:8123"`)
      for (const host of ["127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1", "a b:80", "localhost:80/x", "localhost:123456", "a:b:1", "[::1:80"]) {
        const bad = yield* Effect.flip(fromEnv({ CLOUD_TASKS_EMULATOR_HOST: host }))
        expect(bad.message, host).toContain("must be host:port with a port from 1 to 65535")
      }
      for (const [host, parsed] of [
        ["localhost:1", { host: "localhost", port: 1 }],
        ["127.0.0.1:65535", { host: "127.0.0.1", port: 65535 }],
        ["[::1]:8123", { host: "::1", port: 8123 }]
      ] as const) {
        expect((yield* fromEnv({ CLOUD_TASKS_EMULATOR_HOST: host })).emulatorHost).toEqual(Option.some(parsed))
      }
    }))

  it.effect.prop(
    "TASKS_DASHBOARD_PORT is a port from 0 (any free port) to 65535; unset, no dashboard",
    { port: fc.integer({ min: 0, max: 65535 }), pad: fc.constantFrom("", " ") },
    ({ pad, port }) =>
      Effect.gen(function*() {
        expect((yield* fromEnv({ TASKS_DASHBOARD_PORT: `${pad}${port}${pad}` })).dashboardPort).toEqual(Option.some(port))
        expect((yield* TasksConfig.make({ dashboardPort: port })).dashboardPort).toEqual(Option.some(port))
        expect((yield* fromEnv({})).dashboardPort).toEqual(Option.none())
      })
  )

  it.effect("a TASKS_DASHBOARD_PORT that is not a port is named; production refuses one (it has no in-process queue)", () =>
    Effect.gen(function*() {
      for (const port of ["65536", "-1", "80.5", "http://127.0.0.1:8080", "eighty"]) {
        const error = yield* Effect.flip(fromEnv({ TASKS_DASHBOARD_PORT: port }))
        expect(error.variables, port).toEqual(["TASKS_DASHBOARD_PORT"])
        expect(error.message).toContain("must be a port from 0 (any free port) to 65535")
      }
      const error = yield* Effect.flip(fromEnv({ ...production, TASKS_DASHBOARD_PORT: "8124" }))
      expect(error.variables).toEqual(["TASKS_DASHBOARD_PORT"])
      expect(error.message).toContain("must not be set in production")
    }))

  it.effect("an unrecognised APP_ENV is named in the error with how it was taken and the nearest value", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(fromEnv({ APP_ENV: "developement" }))
      expect(error.message).toContain(`APP_ENV "developement" is taken as production-like`)
      expect(error.message).toContain(`did you mean "development"?`)
      const staging = yield* Effect.flip(fromEnv({ APP_ENV: "staging" }))
      expect(staging.message).toContain(`APP_ENV "staging" is taken as production-like`)
      expect(staging.message).not.toContain("did you mean")
      const production = yield* Effect.flip(fromEnv({ APP_ENV: "production" }))
      expect(production.message).not.toContain("taken as production-like")
    }))

  it.effect("a bad WORKER_URL_BASE does not stop a dev app: it is kept as the reason the worker is not used", () =>
    Effect.gen(function*() {
      const config = yield* fromEnv({ USE_WORKER_IN_DEV: "true", WORKER_URL_BASE: "localhost:8001" })
      expect(Option.isNone(config.workerUrlBase)).toBe(true)
      expect(Option.getOrThrow(config.workerUrlProblem)).toContain("WORKER_URL_BASE must be an http or https URL")
      const error = yield* Effect.flip(fromEnv({ ...production, WORKER_URL_BASE: "localhost:8001" }))
      expect(error.variables).toEqual(["WORKER_URL_BASE"])
    }))

  it.effect("TASKS_AUTH is trimmed, so the production default check cannot be dodged with blanks", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(fromEnv({ ...production, TASKS_AUTH: "  a-secure-local-secret " }))
      expect(error.variables).toEqual(["TASKS_AUTH"])
      const config = yield* fromEnv({ ...production, TASKS_AUTH: " s3cret\t" })
      expect(Option.map(config.auth, Redacted.value)).toEqual(Option.some("s3cret"))
    }))

  it.effect("explicit values validate exactly like the environment", () =>
    Effect.gen(function*() {
      const input: TasksConfigInput = { appEnv: "production", dryRun: "maybe", auth: Redacted.make("x") }
      const error = yield* Effect.flip(TasksConfig.make(input))
      expect([...error.variables].sort()).toEqual([
        "GOOGLE_CLOUD_PROJECT",
        "TASKS_DRY_RUN",
        "TASKS_LOCATION",
        "TASKS_QUEUE",
        "TASKS_URL_BASE"
      ])
      const config = yield* TasksConfig.make({ useWorkerInDev: true, workerPaths: ["/only/this"] })
      expect([...config.workerPaths]).toEqual(["/only/this"])
    }))
})

describe("what a user reads and gets", () => {
  const problem = (input: TasksConfigInput) => Effect.flip(TasksConfig.make(input))

  it.effect("production: every problem in one message, in order, with how APP_ENV was taken", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const error = yield* problem({ appEnv: "staging", forceHttpLoopback: "true" })
      expect(error.message).toBe(
        "Invalid effect-http-tasks configuration: GOOGLE_CLOUD_PROJECT is required in production; " +
          "TASKS_LOCATION is required in production; TASKS_QUEUE is required in production; " +
          "TASKS_URL_BASE is required in production; TASKS_FORCE_HTTP_LOOPBACK must not be true in production; " +
          "TASKS_AUTH is required in production (or set TASKS_SERVICE_ACCOUNT_EMAIL for OIDC). " +
          "APP_ENV \"staging\" is taken as production-like (only dev, development, local, test, testing and unset are not)"
      )
      expect(logs.of(Events.configMissing).map((entry) => [entry.level, entry.annotations.variables])).toEqual([
        ["ERROR", "GOOGLE_CLOUD_PROJECT,TASKS_LOCATION,TASKS_QUEUE,TASKS_URL_BASE,TASKS_FORCE_HTTP_LOOPBACK,TASKS_AUTH"]
      ])
      const devDefault = yield* problem({ ...explicitProduction, auth: "a-secure-local-secret" })
      expect(devDefault.message).toBe(
        "Invalid effect-http-tasks configuration: TASKS_AUTH must not be the development default in production"
      )
    }).pipe(Effect.provide(layer))
  })

  const explicitProduction: TasksConfigInput = {
    appEnv: "production",
    project: "p",
    location: "l",
    queue: "q",
    urlBase: "https://a.example",
    auth: "s3cret"
  }

  it.effect("URLs: each refusal says what is wrong; trailing slashes are dropped", () =>
    Effect.gen(function*() {
      const prefix = "Invalid effect-http-tasks configuration: TASKS_URL_BASE "
      expect((yield* problem({ urlBase: "nope" })).message).toBe(`${prefix}must be an absolute http(s) URL, got "nope"`)
      expect((yield* problem({ urlBase: "ftp://x" })).message).toBe(
        `${prefix}must be an http or https URL, got the scheme "ftp:"`
      )
      for (const urlBase of ["https://a.example/?q=1", "https://a.example/#f", "https://u@a.example/", "https://:p@a.example/"]) {
        expect((yield* problem({ urlBase })).message, urlBase).toBe(
          `${prefix}must not carry a query, fragment or credentials`
        )
      }
      for (const urlBase of ["http://a.example", "https://a.example/base///"]) {
        const config = yield* TasksConfig.make({ urlBase, workerUrlBase: urlBase })
        expect(config.urlBase).toEqual(Option.some(urlBase.replace(/\/+$/, "")))
        expect(config.workerUrlBase).toEqual(config.urlBase)
        expect(config.workerUrlProblem).toEqual(Option.none())
      }
      expect((yield* problem({ dryRun: "maybe" })).message).toBe(
        "Invalid effect-http-tasks configuration: TASKS_DRY_RUN must be one of true/1/yes/on or false/0/no/off, got \"maybe\""
      )
      expect((yield* problem({ forceHttpLoopback: true })).message).toBe(
        "Invalid effect-http-tasks configuration: TASKS_URL_BASE is required when TASKS_FORCE_HTTP_LOOPBACK is true"
      )
      expect((yield* problem({ emulatorHost: "http://127.0.0.1:8123/x" })).message).toBe(
        "Invalid effect-http-tasks configuration: CLOUD_TASKS_EMULATOR_HOST must be host:port without a scheme " +
          "(the emulator speaks plaintext gRPC), e.g. \"127.0.0.1:8123\", got \"http://127.0.0.1:8123/x\""
      )
    }))

  it.effect("dev and test keep a TASKS_AUTH that is set; production dry-run takes no development default", () =>
    Effect.gen(function*() {
      for (const appEnv of ["dev", "test"]) {
        const config = yield* TasksConfig.make({ appEnv, auth: "mine" })
        expect(Option.map(config.auth, Redacted.value)).toEqual(Option.some("mine"))
        expect(config.authDefaulted).toBe(false)
      }
      const dryRun = yield* TasksConfig.make({ appEnv: "production", dryRun: true })
      expect(dryRun.auth).toEqual(Option.none())
      expect(dryRun.authDefaulted).toBe(false)
      // An OIDC service account makes the development default acceptable: it is not what authenticates.
      const oidc = yield* TasksConfig.make({ ...explicitProduction, auth: "a-secure-local-secret", serviceAccountEmail: "a@p.iam" })
      expect(oidc.serviceAccountEmail).toEqual(Option.some("a@p.iam"))
    }))

  it.effect("the queue needs all three variables, the location two; the rest is read as given", () =>
    Effect.gen(function*() {
      const partial = yield* TasksConfig.make({ project: "p", location: "l" })
      expect(partial.queue).toEqual(Option.none())
      expect(partial.location).toEqual(Option.some({ project: "p", location: "l" }))
      const none = yield* TasksConfig.make({ project: "p", queue: "q" })
      expect([none.queue, none.location]).toEqual([Option.none(), Option.none()])
      const noProject = yield* TasksConfig.make({ location: "l", queue: "q" })
      expect([noProject.queue, noProject.location]).toEqual([Option.none(), Option.none()])
      const loopback = yield* TasksConfig.make({ forceHttpLoopback: true, urlBase: "http://127.0.0.1:1" })
      expect(loopback.forceHttpLoopback).toBe(true)
      const full = yield* TasksConfig.make({
        ...explicitProduction,
        oidcAudience: " https://aud.example ",
        useWorkerInDev: "on",
        emulatorHost: " localhost:8123 "
      })
      expect(full.queue).toEqual(Option.some({ project: "p", location: "l", queue: "q" }))
      expect(full.oidcAudience).toEqual(Option.some("https://aud.example"))
      expect(full.useWorkerInDev).toBe(true)
      expect(full.emulatorHost).toEqual(Option.some({ host: "localhost", port: 8123 }))
      expect([...full.workerPaths]).toEqual(["/api/tasks/assemble", "/api/tasks/process-chunk"])
      expect([full.dryRun, full.forceHttpLoopback]).toEqual([false, false])
    }))

  it.effect("a provider that cannot read a variable is a ConfigError naming it, not effect's own error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        TasksConfig.pipe(Effect.provide(TasksConfig.layer.pipe(
          Layer.provide(Layer.setConfigProvider(unreadableConfig(["TASKS_QUEUE", "TASKS_AUTH"])))
        )))
      )
      expect(error).toBeInstanceOf(ConfigError)
      expect(error.message).toBe(
        "Could not read the effect-http-tasks configuration: (Invalid data at TASKS_QUEUE: \"unreadable\") and " +
          "(Invalid data at TASKS_AUTH: \"<redacted>\")"
      )
      expect(error.variables).toEqual(["TASKS_QUEUE", "TASKS_AUTH"])
    }))
})
