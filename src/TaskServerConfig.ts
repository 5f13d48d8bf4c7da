/**
 * The task server's own configuration: what a service that receives tasks needs,
 * and nothing an enqueuer needs (no queue, no base URL), so that a worker service
 * deploys with only `APP_ENV` and `TASKS_AUTH`.
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
}

/**
 * The validated configuration of the task server.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskServerConfigShape {
  readonly appEnv: AppEnv
  /** The secret requests must carry; `None` only in production without `TASKS_AUTH`. */
  readonly auth: Option.Option<Redacted.Redacted<string>>
  /** True when `TASKS_AUTH` was unset and the dev default is used. */
  readonly authDefaulted: boolean
}

const validate = (input: TaskServerConfigInput): Effect.Effect<TaskServerConfigShape, ConfigError> =>
  Effect.suspend(() => {
    const appEnv = parseAppEnv(input.appEnv)
    const auth = readSecret(input.auth)
    if (appEnv === "production" && Option.isSome(auth) && isDevDefault(auth.value)) {
      const note = appEnvNote(input.appEnv)
      return Effect.fail(
        new ConfigError({
          message: "Invalid effect-http-tasks task server configuration: TASKS_AUTH must not be the development " +
            `default in production${note === undefined ? "" : `. ${note}`}`,
          variables: ["TASKS_AUTH"]
        })
      )
    }
    const defaulted = appEnv !== "production" && Option.isNone(auth)
    return Effect.succeed<TaskServerConfigShape>({
      appEnv,
      auth: defaulted ? readSecret(DEFAULT_DEV_AUTH) : auth,
      authDefaulted: defaulted
    })
  }).pipe(
    Effect.tapError((error) =>
      Log.error(Events.serverConfigInvalid, error.message, { variables: error.variables.join(",") })
    )
  )

const fromConfig: Effect.Effect<TaskServerConfigShape, ConfigError> = Config.all({
  appEnv: Config.option(Config.string("APP_ENV")),
  auth: Config.option(Config.redacted("TASKS_AUTH"))
}).pipe(
  Effect.mapError((error) =>
    new ConfigError({
      message: `Could not read the effect-http-tasks task server configuration: ${String(error)}`,
      variables: ["APP_ENV", "TASKS_AUTH"].filter((name) => String(error).includes(name))
    })
  ),
  Effect.flatMap(({ appEnv, auth }) =>
    validate({ appEnv: Option.getOrUndefined(appEnv), auth: Option.getOrUndefined(auth) })
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
   * `APP_ENV` and `TASKS_AUTH` read through effect's `Config`.
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
