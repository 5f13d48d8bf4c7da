import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option, Redacted } from "effect"
import { ConfigError, Events } from "../src/index.js"
import { TaskServerConfig, type TaskServerConfigInput } from "../src/TaskServerConfig.js"
import { unreadableConfig } from "./utils/config.js"
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

describe("TaskServerConfig: what a user reads and gets", () => {
  const make = (input: TaskServerConfigInput) => TaskServerConfig.pipe(Effect.provide(TaskServerConfig.layerWith(input)))
  const prefix = "Invalid effect-http-tasks task server configuration: "
  const needsAudience = "needs TASKS_OIDC_AUDIENCE, the audience the tokens must carry"

  it.effect("each OIDC setting without an audience is named, in order, with no APP_ENV note outside production", () => {
    const { layer, logs } = captureLogs()
    return Effect.gen(function*() {
      const error = yield* Effect.flip(make({
        appEnv: "test",
        oidcServiceAccounts: "a@b.c",
        oidcJwksUrl: "https://keys.example/certs",
        oidcIssuer: "https://issuer.example"
      }))
      expect(error.message).toBe(
        `${prefix}TASKS_OIDC_SERVICE_ACCOUNTS ${needsAudience}; TASKS_OIDC_JWKS_URL ${needsAudience}; TASKS_OIDC_ISSUER ${needsAudience}`
      )
      expect(logs.of(Events.serverConfigInvalid).map((entry) => [entry.level, entry.annotations.variables])).toEqual([
        ["ERROR", "TASKS_OIDC_SERVICE_ACCOUNTS,TASKS_OIDC_JWKS_URL,TASKS_OIDC_ISSUER"]
      ])
      const issuerOnly = yield* Effect.flip(make({ oidcIssuer: "https://issuer.example" }))
      expect(issuerOnly.message).toBe(`${prefix}TASKS_OIDC_ISSUER ${needsAudience}`)
      // Blank values are unset.
      const blank = yield* make({ oidcAudience: " ", oidcServiceAccounts: " , ", oidcJwksUrl: " ", oidcIssuer: "" })
      expect(blank.oidc).toEqual(Option.none())
    }).pipe(Effect.provide(layer))
  })

  it.effect("service accounts are a comma-separated list of emails; anything else is named", () =>
    Effect.gen(function*() {
      const config = yield* make({ oidcAudience: " aud ", oidcServiceAccounts: " a@b.c, ,d@e ", oidcIssuer: " iss " })
      expect(config.oidc).toEqual(Option.some({ audience: "aud", emails: ["a@b.c", "d@e"], jwksUrl: "https://www.googleapis.com/oauth2/v3/certs", issuers: ["iss"] }))
      const listed = yield* make({ oidcAudience: "aud", oidcServiceAccounts: [" a@b.c ", " "] })
      expect(Option.map(listed.oidc, (oidc) => oidc.emails)).toEqual(Option.some(["a@b.c"]))
      for (const email of ["a@b@c", "a b@c", "@b.c", "a@", "plain"]) {
        const error = yield* Effect.flip(make({ oidcAudience: "aud", oidcServiceAccounts: [email] }))
        expect(error.message, email).toBe(`${prefix}TASKS_OIDC_SERVICE_ACCOUNTS must list emails, got ${JSON.stringify(email)}`)
      }
    }))

  it.effect("the JWKS URL: http(s) in dev/test, https in production", () =>
    Effect.gen(function*() {
      for (const url of ["http://127.0.0.1:1/certs", "https://keys.example/certs"]) {
        const config = yield* make({ oidcAudience: "aud", oidcJwksUrl: url })
        expect(Option.map(config.oidc, (oidc) => oidc.jwksUrl)).toEqual(Option.some(url))
      }
      for (const url of ["ftp://keys.example/certs", "not a url"]) {
        const error = yield* Effect.flip(make({ oidcAudience: "aud", oidcJwksUrl: url }))
        expect(error.message).toBe(`${prefix}TASKS_OIDC_JWKS_URL must be an http(s) URL, got ${JSON.stringify(url)}`)
      }
      const production = yield* make({ appEnv: "production", oidcAudience: "aud", oidcJwksUrl: "https://keys.example/certs" })
      expect(Option.map(production.oidc, (oidc) => oidc.jwksUrl)).toEqual(Option.some("https://keys.example/certs"))
      const error = yield* Effect.flip(make({ appEnv: "production", oidcAudience: "aud", oidcJwksUrl: "http://keys.example/c" }))
      expect(error.message).toBe(`${prefix}TASKS_OIDC_JWKS_URL must be an https URL in production, got "http://keys.example/c"`)
    }))

  it.effect("a secret that is set is kept everywhere; production may run on OIDC or a secret alone", () =>
    Effect.gen(function*() {
      for (const appEnv of ["dev", "test", "production"]) {
        const config = yield* make({ appEnv, auth: " mine " })
        expect(Option.map(config.auth, Redacted.value)).toEqual(Option.some("mine"))
        expect(config.authDefaulted).toBe(false)
      }
      // The development default is refused in production only.
      const dev = yield* make({ appEnv: "dev", auth: "a-secure-local-secret" })
      expect(dev.authDefaulted).toBe(false)
      const fromEnvIssuer = yield* fromEnv({ TASKS_OIDC_AUDIENCE: "aud", TASKS_OIDC_ISSUER: "https://issuer.example" })
      expect(Option.map(fromEnvIssuer.oidc, (oidc) => oidc.issuers)).toEqual(Option.some(["https://issuer.example"]))
      const bare = yield* make({ appEnv: "production" })
      expect([bare.auth, bare.authDefaulted, bare.oidc]).toEqual([Option.none(), false, Option.none()])
      const both = yield* make({ appEnv: "test", auth: "mine", oidcAudience: "aud" })
      expect(Option.map(both.auth, Redacted.value)).toEqual(Option.some("mine"))
    }))

  it.effect("a provider that cannot read TASKS_AUTH is a ConfigError naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        TaskServerConfig.pipe(Effect.provide(TaskServerConfig.layer.pipe(
          Layer.provide(Layer.setConfigProvider(unreadableConfig(["TASKS_AUTH"])))
        )))
      )
      expect(error.message).toBe(
        "Could not read the effect-http-tasks task server configuration: (Invalid data at TASKS_AUTH: \"<redacted>\")"
      )
      expect(error.variables).toEqual(["TASKS_AUTH"])
    }))
})
