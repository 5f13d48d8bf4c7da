import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option, Redacted } from "effect"
import { ConfigError, Events } from "../src/index.js"
import { TaskServerConfig } from "../src/TaskServerConfig.js"
import { captureLogs } from "./utils/logs.js"

const fromEnv = (env: Record<string, string>) =>
  TaskServerConfig.pipe(
    Effect.provide(TaskServerConfig.layer.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson(env)))))
  )

describe("TaskServerConfig", () => {
  it.effect("reads only its own variables: a production worker needs no queue", () =>
    Effect.gen(function*() {
      const config = yield* fromEnv({ APP_ENV: "production", TASKS_AUTH: " prod-secret " })
      expect(config.appEnv).toBe("production")
      expect(Option.map(config.auth, Redacted.value)).toEqual(Option.some("prod-secret"))
      expect(config.authDefaulted).toBe(false)
      expect(Option.isNone(config.oidc)).toBe(true)
    }))

  it.effect("in dev/test an unset TASKS_AUTH is the development default, unless OIDC authenticates", () =>
    Effect.gen(function*() {
      const dev = yield* fromEnv({})
      expect(Option.map(dev.auth, Redacted.value)).toEqual(Option.some("a-secure-local-secret"))
      expect(dev.authDefaulted).toBe(true)
      const oidc = yield* fromEnv({ APP_ENV: "test", TASKS_OIDC_AUDIENCE: "https://api.example.com" })
      expect(Option.isNone(oidc.auth)).toBe(true)
      expect(oidc.authDefaulted).toBe(false)
    }))

  it.effect("production refuses the development default, with an event naming the server", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const error = yield* Effect.flip(fromEnv({ APP_ENV: "production", TASKS_AUTH: "a-secure-local-secret" }))
      expect(error).toBeInstanceOf(ConfigError)
      expect(error.variables).toEqual(["TASKS_AUTH"])
      expect(error.message).toBe(
        "Invalid effect-http-tasks task server configuration: TASKS_AUTH must not be the development default in production"
      )
      expect(logs.of(Events.serverConfigInvalid)).toHaveLength(1)
      expect(logs.events().some((event) => event.startsWith("tasks.enqueue_http_task."))).toBe(false)
    }).pipe(Effect.provide(layer))
  })

  it.effect("an APP_ENV typo is named with the nearest known value when it makes a problem", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(fromEnv({ APP_ENV: "developement", TASKS_AUTH: "a-secure-local-secret" }))
      expect(error.message).toContain(`APP_ENV "developement" is taken as production-like`)
      expect(error.message).toContain(`did you mean "development"?`)
    }))

  it.effect("OIDC: the audience, the accepted service accounts, Google's keys and issuers by default", () =>
    Effect.gen(function*() {
      const config = yield* fromEnv({
        APP_ENV: "production",
        TASKS_OIDC_AUDIENCE: "https://api.example.com/tasks",
        TASKS_OIDC_SERVICE_ACCOUNTS: " tasks@p.iam.gserviceaccount.com, other@p.iam.gserviceaccount.com "
      })
      expect(config.oidc).toEqual(Option.some({
        audience: "https://api.example.com/tasks",
        emails: ["tasks@p.iam.gserviceaccount.com", "other@p.iam.gserviceaccount.com"],
        jwksUrl: "https://www.googleapis.com/oauth2/v3/certs",
        issuers: ["https://accounts.google.com", "accounts.google.com"]
      }))
      expect(Option.isNone(config.auth)).toBe(true)
    }))

  it.effect("OIDC settings without an audience, a bad email and an http JWKS in production are named together", () =>
    Effect.gen(function*() {
      const noAudience = yield* Effect.flip(fromEnv({
        TASKS_OIDC_SERVICE_ACCOUNTS: "a@b.c",
        TASKS_OIDC_JWKS_URL: "http://127.0.0.1:1/certs"
      }))
      expect([...noAudience.variables].sort()).toEqual(["TASKS_OIDC_JWKS_URL", "TASKS_OIDC_SERVICE_ACCOUNTS"])
      expect(noAudience.message).toContain("needs TASKS_OIDC_AUDIENCE")
      const production = yield* Effect.flip(fromEnv({
        APP_ENV: "production",
        TASKS_OIDC_AUDIENCE: "https://api.example.com",
        TASKS_OIDC_SERVICE_ACCOUNTS: "not-an-email",
        TASKS_OIDC_JWKS_URL: "http://keys.example.com/certs"
      }))
      expect([...production.variables].sort()).toEqual(["TASKS_OIDC_JWKS_URL", "TASKS_OIDC_SERVICE_ACCOUNTS"])
      expect(production.message).toContain(`must list emails, got "not-an-email"`)
      expect(production.message).toContain(`TASKS_OIDC_JWKS_URL must be an https URL`)
    }))

  it.effect("explicit values validate exactly like the environment", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        TaskServerConfig.pipe(Effect.provide(TaskServerConfig.layerWith({ appEnv: "prod", auth: "a-secure-local-secret" })))
      )
      expect(error.variables).toEqual(["TASKS_AUTH"])
      const config = yield* TaskServerConfig.pipe(Effect.provide(TaskServerConfig.layerWith({
        appEnv: "test",
        oidcAudience: "aud",
        oidcServiceAccounts: ["a@b.c"],
        oidcJwksUrl: "http://127.0.0.1:1/certs",
        oidcIssuer: "https://issuer.example"
      })))
      expect(config.oidc).toEqual(Option.some({
        audience: "aud",
        emails: ["a@b.c"],
        jwksUrl: "http://127.0.0.1:1/certs",
        issuers: ["https://issuer.example"]
      }))
    }))
})
