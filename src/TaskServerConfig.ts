/**
 * The task server's own configuration: what a service that receives tasks needs,
 * and nothing an enqueuer needs (no queue, no base URL), so that a worker service
 * deploys with only `APP_ENV`, `TASKS_AUTH` and, to verify Cloud Tasks' OIDC tokens,
 * `TASKS_OIDC_AUDIENCE` (with `TASKS_OIDC_SERVICE_ACCOUNTS`, `TASKS_OIDC_JWKS_URL`,
 * `TASKS_OIDC_ISSUER`).
 *
 * Read once, when the layer is built: from effect's `Config` with
 * {@link TaskServerConfig.layer}, or from explicit values with
 * {@link TaskServerConfig.layerWith}; both fail with one `ConfigError` naming every
 * offending variable, and the event `tasks.server.config_invalid`.
 *
 * @since 0.1.0
 */
import { Config, Context, Effect, Layer, Option, type Redacted } from "effect"
import { ConfigError } from "./Errors.js"
import { Events } from "./Events.js"
import { type AppEnv, appEnvNote, DEFAULT_DEV_AUTH, isDevDefault, parseAppEnv, readSecret } from "./internal/env.js"
import * as Log from "./internal/log.js"
import { GOOGLE_ISSUERS, GOOGLE_JWKS_URL } from "./internal/server/oidc.js"

/**
 * Explicit configuration values of the task server, one per variable.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskServerConfigInput {
  /** `APP_ENV`. */
  readonly appEnv?: string | undefined
  /** `TASKS_AUTH`: the shared secret every request must carry as `X-Tasks-Auth`. */
  readonly auth?: string | Redacted.Redacted<string> | undefined
  /**
   * `TASKS_OIDC_AUDIENCE`: when set, every request must carry an OIDC ID token
   * (`Authorization: Bearer`) for this audience, signed by a key of the JWKS.
   */
  readonly oidcAudience?: string | undefined
  /** `TASKS_OIDC_SERVICE_ACCOUNTS`: the service-account emails accepted (comma-separated in the environment). */
  readonly oidcServiceAccounts?: string | Iterable<string> | undefined
  /** `TASKS_OIDC_JWKS_URL`: where the signing keys are (default Google's, `https://www.googleapis.com/oauth2/v3/certs`). */
  readonly oidcJwksUrl?: string | undefined
  /** `TASKS_OIDC_ISSUER`: the tokens' issuer (default Google's, `https://accounts.google.com`). */
  readonly oidcIssuer?: string | undefined
}

/**
 * How the task server verifies OIDC ID tokens.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskServerOidc {
  readonly audience: string
  /** The service-account emails accepted; empty accepts any verified email. */
  readonly emails: ReadonlyArray<string>
  readonly jwksUrl: string
  readonly issuers: ReadonlyArray<string>
}

/**
 * The validated configuration of the task server.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskServerConfigShape {
  readonly appEnv: AppEnv
  /**
   * The secret requests must carry; `None` when `TASKS_AUTH` is unset and OIDC is
   * configured, or in production without either.
   */
  readonly auth: Option.Option<Redacted.Redacted<string>>
  /** True when `TASKS_AUTH` was unset and the dev default is used. */
  readonly authDefaulted: boolean
  /** The OIDC verification every request must pass, when `TASKS_OIDC_AUDIENCE` is set. */
  readonly oidc: Option.Option<TaskServerOidc>
}

const text = (value: string | undefined): string | undefined => {
  const trimmed = value?.trim()
  return trimmed === "" ? undefined : trimmed
}

const list = (value: string | Iterable<string> | undefined): Array<string> =>
  value === undefined ? [] : (typeof value === "string" ? value.split(",") : Array.from(value))
    .map((item) => item.trim())
    .filter((item) => item !== "")

const validate = (input: TaskServerConfigInput): Effect.Effect<TaskServerConfigShape, ConfigError> =>
  Effect.suspend(() => {
    const problems: Array<readonly [variable: string, problem: string]> = []
    const appEnv = parseAppEnv(input.appEnv)
    const secret = readSecret(input.auth)
    if (appEnv === "production" && Option.isSome(secret) && isDevDefault(secret.value)) {
      problems.push(["TASKS_AUTH", "must not be the development default in production"])
    }

    const audience = text(input.oidcAudience)
    const emails = list(input.oidcServiceAccounts)
    const jwksUrl = text(input.oidcJwksUrl)
    const issuer = text(input.oidcIssuer)
    if (audience === undefined) {
      for (const [variable, given] of [
        ["TASKS_OIDC_SERVICE_ACCOUNTS", emails.length > 0],
        ["TASKS_OIDC_JWKS_URL", jwksUrl !== undefined],
        ["TASKS_OIDC_ISSUER", issuer !== undefined]
      ] as const) {
        if (given) problems.push([variable, "needs TASKS_OIDC_AUDIENCE, the audience the tokens must carry"])
      }
    }
    for (const email of emails) {
      if (!/^[^@\s]+@[^@\s]+$/.test(email)) {
        problems.push(["TASKS_OIDC_SERVICE_ACCOUNTS", `must list emails, got ${JSON.stringify(email)}`])
      }
    }
    if (jwksUrl !== undefined) {
      const protocol = URL.canParse(jwksUrl) ? new URL(jwksUrl).protocol : undefined
      if (protocol !== "https:" && (appEnv === "production" || protocol !== "http:")) {
        const expected = appEnv === "production" ? "an https URL in production" : "an http(s) URL"
        problems.push(["TASKS_OIDC_JWKS_URL", `must be ${expected}, got ${JSON.stringify(jwksUrl)}`])
      }
    }

    if (problems.length > 0) {
      const note = appEnv === "production" ? appEnvNote(input.appEnv) : undefined
      return Effect.fail(
        new ConfigError({
          message: `Invalid effect-http-tasks task server configuration: ${
            problems.map(([variable, problem]) => `${variable} ${problem}`).join("; ")
          }${note === undefined ? "" : `. ${note}`}`,
          variables: Array.from(new Set(problems.map(([variable]) => variable)))
        })
      )
    }
    const oidc = Option.map(Option.fromNullable(audience), (audience): TaskServerOidc => ({
      audience,
      emails,
      jwksUrl: jwksUrl ?? GOOGLE_JWKS_URL,
      issuers: issuer === undefined ? GOOGLE_ISSUERS : [issuer]
    }))
    // The dev default stands in for a secret only when nothing else authenticates requests.
    const defaulted = appEnv !== "production" && Option.isNone(secret) && Option.isNone(oidc)
    return Effect.succeed<TaskServerConfigShape>({
      appEnv,
      auth: defaulted ? readSecret(DEFAULT_DEV_AUTH) : secret,
      authDefaulted: defaulted,
      oidc
    })
  }).pipe(
    Effect.tapError((error) =>
      Log.error(Events.serverConfigInvalid, error.message, { variables: error.variables.join(",") })
    )
  )

const optional = (name: string) => Config.option(Config.string(name))

const fromConfig: Effect.Effect<TaskServerConfigShape, ConfigError> = Config.all({
  appEnv: optional("APP_ENV"),
  auth: Config.option(Config.redacted("TASKS_AUTH")),
  oidcAudience: optional("TASKS_OIDC_AUDIENCE"),
  oidcServiceAccounts: optional("TASKS_OIDC_SERVICE_ACCOUNTS"),
  oidcJwksUrl: optional("TASKS_OIDC_JWKS_URL"),
  oidcIssuer: optional("TASKS_OIDC_ISSUER")
}).pipe(
  Effect.mapError((error) =>
    new ConfigError({
      message: `Could not read the effect-http-tasks task server configuration: ${String(error)}`,
      variables: String(error).match(/\b(APP_ENV|TASKS_[A-Z_]+)\b/g) ?? []
    })
  ),
  Effect.flatMap((values) =>
    validate({
      appEnv: Option.getOrUndefined(values.appEnv),
      auth: Option.getOrUndefined(values.auth),
      oidcAudience: Option.getOrUndefined(values.oidcAudience),
      oidcServiceAccounts: Option.getOrUndefined(values.oidcServiceAccounts),
      oidcJwksUrl: Option.getOrUndefined(values.oidcJwksUrl),
      oidcIssuer: Option.getOrUndefined(values.oidcIssuer)
    })
  )
)

/**
 * The task server's configuration, as a service.
 *
 * @since 0.1.0
 * @category services
 */
export class TaskServerConfig extends Context.Tag("effect-http-tasks/TaskServerConfig")<
  TaskServerConfig,
  TaskServerConfigShape
>() {
  /**
   * `APP_ENV`, `TASKS_AUTH` and the `TASKS_OIDC_*` variables read through effect's `Config`.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<TaskServerConfig, ConfigError> = Layer.effect(this, fromConfig)
  /**
   * The configuration from explicit values (the same rules).
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerWith = (input: TaskServerConfigInput): Layer.Layer<TaskServerConfig, ConfigError> =>
    Layer.effect(this, validate(input))
}
