/**
 * The resolved, validated configuration of effect-http-tasks.
 *
 * Read once, when the layer is built: from effect's `Config` (the environment by
 * default, any `ConfigProvider` in tests) with {@link TasksConfig.layer}, or from
 * explicit values with {@link TasksConfig.layerWith}. Both validate the same way
 * and fail with one {@link ConfigError} naming every offending variable.
 *
 * @since 0.1.0
 */
import { Config, Context, Effect, Layer, Option, type Redacted } from "effect"
import { ConfigError } from "./Errors.js"
import { Events } from "./Events.js"
import {
  type AppEnv,
  appEnvNote,
  booleanProblem,
  DEFAULT_DEV_AUTH,
  isDevDefault,
  parseAppEnv,
  parseBoolean,
  readSecret
} from "./internal/env.js"
import * as Log from "./internal/log.js"

export type {
  /**
   * The environment kind derived from `APP_ENV`: `dev` for `dev`, `development`,
   * `local` or unset; `test` for `test` or `testing`; `production` for anything else.
   *
   * @since 0.1.0
   * @category models
   */
  AppEnv
} from "./internal/env.js"

/**
 * Explicit configuration values, one per variable. Booleans may be given as
 * booleans or as the strings the environment would hold.
 *
 * @since 0.1.0
 * @category models
 */
export interface TasksConfigInput {
  /** `APP_ENV`. */
  readonly appEnv?: string | undefined
  /** `TASKS_DRY_RUN`. */
  readonly dryRun?: boolean | string | undefined
  /** `GOOGLE_CLOUD_PROJECT`. */
  readonly project?: string | undefined
  /** `TASKS_LOCATION`. */
  readonly location?: string | undefined
  /** `TASKS_QUEUE`. */
  readonly queue?: string | undefined
  /** `TASKS_URL_BASE`: absolute http(s) URL of the task endpoints. */
  readonly urlBase?: string | undefined
  /** `TASKS_AUTH`: the shared secret sent as `X-Tasks-Auth`. */
  readonly auth?: string | Redacted.Redacted<string> | undefined
  /** `WORKER_URL_BASE`: absolute http(s) URL of the worker server. */
  readonly workerUrlBase?: string | undefined
  /** `USE_WORKER_IN_DEV`. */
  readonly useWorkerInDev?: boolean | string | undefined
  /** `TASKS_FORCE_HTTP_LOOPBACK`. */
  readonly forceHttpLoopback?: boolean | string | undefined
  /** `CLOUD_TASKS_EMULATOR_HOST`: `host:port` of a Cloud Tasks emulator. */
  readonly emulatorHost?: string | undefined
  /** `TASKS_SERVICE_ACCOUNT_EMAIL`: adds an OIDC token to each Cloud Task. */
  readonly serviceAccountEmail?: string | undefined
  /** `TASKS_OIDC_AUDIENCE`: the OIDC token's audience (default: the task URL). */
  readonly oidcAudience?: string | undefined
  /**
   * `TASKS_DASHBOARD_PORT`: in dev/test, the port on 127.0.0.1 where the in-process queue
   * serves its dashboard (0: a free port, logged).
   */
  readonly dashboardPort?: number | string | undefined
  /** The paths sent to the worker server in dev/test (default {@link defaultWorkerPaths}). */
  readonly workerPaths?: Iterable<string> | undefined
}

/**
 * The environment variable behind each {@link TasksConfigInput} field.
 *
 * @since 0.1.0
 * @category constants
 */
export const variables = {
  appEnv: "APP_ENV",
  dryRun: "TASKS_DRY_RUN",
  project: "GOOGLE_CLOUD_PROJECT",
  location: "TASKS_LOCATION",
  queue: "TASKS_QUEUE",
  urlBase: "TASKS_URL_BASE",
  auth: "TASKS_AUTH",
  workerUrlBase: "WORKER_URL_BASE",
  useWorkerInDev: "USE_WORKER_IN_DEV",
  forceHttpLoopback: "TASKS_FORCE_HTTP_LOOPBACK",
  emulatorHost: "CLOUD_TASKS_EMULATOR_HOST",
  serviceAccountEmail: "TASKS_SERVICE_ACCOUNT_EMAIL",
  oidcAudience: "TASKS_OIDC_AUDIENCE",
  dashboardPort: "TASKS_DASHBOARD_PORT"
} as const

/**
 * The paths that go to the worker server in dev/test when `USE_WORKER_IN_DEV` is true.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultWorkerPaths: ReadonlySet<string> = new Set(["/api/tasks/assemble", "/api/tasks/process-chunk"])

/**
 * The `TASKS_AUTH` used in dev/test when none is set. Refused in production.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultDevAuth: string = DEFAULT_DEV_AUTH

/**
 * The Cloud Tasks queue, present when all three variables are set.
 *
 * @since 0.1.0
 * @category models
 */
export interface QueueConfig {
  readonly project: string
  readonly location: string
  readonly queue: string
}

/**
 * The validated configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface TasksConfigShape {
  readonly appEnv: AppEnv
  readonly dryRun: boolean
  readonly queue: Option.Option<QueueConfig>
  /** `GOOGLE_CLOUD_PROJECT` and `TASKS_LOCATION`, where the queues are (`TASKS_QUEUE` is not needed for them). */
  readonly location: Option.Option<{ readonly project: string; readonly location: string }>
  /** Without a trailing `/`. */
  readonly urlBase: Option.Option<string>
  /** The secret to send; `None` only in production with OIDC and no `TASKS_AUTH`. */
  readonly auth: Option.Option<Redacted.Redacted<string>>
  /** True when `TASKS_AUTH` was unset and the dev default is used. */
  readonly authDefaulted: boolean
  /** Without a trailing `/`. */
  readonly workerUrlBase: Option.Option<string>
  /**
   * Why `WORKER_URL_BASE` was set but not usable, in dev/test: worker paths then run
   * locally with `tasks.dev.worker_config_invalid` (reason `worker_url_invalid`).
   * In production an invalid `WORKER_URL_BASE` is a `ConfigError`.
   */
  readonly workerUrlProblem: Option.Option<string>
  readonly useWorkerInDev: boolean
  readonly forceHttpLoopback: boolean
  readonly emulatorHost: Option.Option<{ readonly host: string; readonly port: number }>
  readonly serviceAccountEmail: Option.Option<string>
  readonly oidcAudience: Option.Option<string>
  /**
   * Where the in-process queue serves its dashboard, on 127.0.0.1 (0: a free port); `None`:
   * no dashboard. Only in dev/test: production has no in-process queue.
   */
  readonly dashboardPort: Option.Option<number>
  readonly workerPaths: ReadonlySet<string>
}

type Key = keyof typeof variables

const validate = (input: TasksConfigInput): Effect.Effect<TasksConfigShape, ConfigError> =>
  Effect.suspend(() => {
    const problems: Array<{ readonly key: Key; readonly problem: string }> = []
    const fail = (key: Key, problem: string) => {
      problems.push({ key, problem })
    }
    const text = (key: Key): string | undefined => {
      const value = input[key]
      if (value === undefined) return undefined
      const trimmed = (typeof value === "object" ? "" : String(value)).trim()
      return trimmed === "" ? undefined : trimmed
    }
    const bool = (key: Key): boolean => {
      const value = input[key]
      if (value === undefined || typeof value === "boolean") return value ?? false
      return Option.getOrElse(parseBoolean(String(value)), () => {
        fail(key, booleanProblem(String(value)))
        return false
      })
    }
    const url = (key: Key, problem: (key: Key, problem: string) => void = fail): Option.Option<string> => {
      const value = text(key)
      if (value === undefined) return Option.none()
      let parsed: URL
      try {
        parsed = new URL(value)
      } catch {
        problem(key, `must be an absolute http(s) URL, got ${JSON.stringify(value)}`)
        return Option.none()
      }
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
        problem(key, `must be an http or https URL, got the scheme ${JSON.stringify(parsed.protocol)}`)
        return Option.none()
      }
      if (parsed.search !== "" || parsed.hash !== "" || parsed.username !== "" || parsed.password !== "") {
        problem(key, "must not carry a query, fragment or credentials")
        return Option.none()
      }
      return Option.some(value.replace(/\/+$/, ""))
    }

    const appEnvText = text("appEnv")
    const appEnv = parseAppEnv(appEnvText)
    const dryRun = bool("dryRun")
    const useWorkerInDev = bool("useWorkerInDev")
    const forceHttpLoopback = bool("forceHttpLoopback")
    const urlBase = url("urlBase")
    // In dev/test the worker is optional: a bad WORKER_URL_BASE sends worker paths to
    // local dispatch with a warning (tasks.dev.worker_config_invalid) instead of stopping the application.
    let workerUrlProblem: Option.Option<string> = Option.none()
    const workerUrlBase = url(
      "workerUrlBase",
      appEnv === "production" ? fail : (key, problem) => {
        workerUrlProblem = Option.some(`${variables[key]} ${problem}`)
      }
    )
    const project = text("project")
    const location = text("location")
    const queueName = text("queue")
    const serviceAccountEmail = Option.fromNullable(text("serviceAccountEmail"))
    const oidcAudience = Option.fromNullable(text("oidcAudience"))

    let emulatorHost: TasksConfigShape["emulatorHost"] = Option.none()
    const emulator = text("emulatorHost")
    if (emulator !== undefined) {
      const match = /^([^/:\s]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/.exec(emulator)
      const port = match ? Number(match[2]) : NaN
      if (match && port > 0 && port < 65536) {
        emulatorHost = Option.some({ host: match[1]!.replace(/^\[(.*)\]$/, "$1"), port })
      } else if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(emulator)) {
        fail("emulatorHost", `must be host:port without a scheme (the emulator speaks plaintext gRPC), e.g. ${
          JSON.stringify(emulator.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, "").replace(/\/.*$/, ""))
        }, got ${JSON.stringify(emulator)}`)
      } else {
        fail("emulatorHost", `must be host:port with a port from 1 to 65535, got ${JSON.stringify(emulator)}`)
      }
    }

    let dashboardPort: Option.Option<number> = Option.none()
    const port = text("dashboardPort")
    if (port !== undefined) {
      if (/^\d{1,5}$/.test(port) && Number(port) <= 65535) dashboardPort = Option.some(Number(port))
      else fail("dashboardPort", `must be a port from 0 (any free port) to 65535, got ${JSON.stringify(port)}`)
    }

    let auth = readSecret(input.auth)
    let authDefaulted = false

    if (appEnv === "production" && !dryRun) {
      if (project === undefined) fail("project", "is required in production")
      if (location === undefined) fail("location", "is required in production")
      if (queueName === undefined) fail("queue", "is required in production")
      if (text("urlBase") === undefined) fail("urlBase", "is required in production")
      if (forceHttpLoopback) fail("forceHttpLoopback", "must not be true in production")
      if (port !== undefined) fail("dashboardPort", "must not be set in production: it serves the in-process queue of dev/test")
      if (Option.isNone(serviceAccountEmail)) {
        if (Option.isNone(auth)) {
          fail("auth", "is required in production (or set TASKS_SERVICE_ACCOUNT_EMAIL for OIDC)")
        } else if (isDevDefault(auth.value)) {
          fail("auth", "must not be the development default in production")
        }
      }
    } else if (appEnv !== "production") {
      if (forceHttpLoopback && text("urlBase") === undefined) {
        fail("urlBase", "is required when TASKS_FORCE_HTTP_LOOPBACK is true")
      }
      if (Option.isNone(auth)) {
        auth = readSecret(DEFAULT_DEV_AUTH)
        authDefaulted = true
      }
    }

    const workerPaths = new Set(input.workerPaths ?? defaultWorkerPaths)
    if (problems.length > 0) {
      const names = Array.from(new Set(problems.map(({ key }) => variables[key])))
      const note = appEnv === "production" ? appEnvNote(appEnvText) : undefined
      return Effect.fail(
        new ConfigError({
          message: `Invalid effect-http-tasks configuration: ${
            problems.map(({ key, problem }) => `${variables[key]} ${problem}`).join("; ")
          }${note === undefined ? "" : `. ${note}`}`,
          variables: names
        })
      )
    }
    return Effect.succeed<TasksConfigShape>({
      appEnv,
      dryRun,
      queue: project !== undefined && location !== undefined && queueName !== undefined
        ? Option.some({ project, location, queue: queueName })
        : Option.none(),
      location: project !== undefined && location !== undefined ? Option.some({ project, location }) : Option.none(),
      urlBase,
      auth,
      authDefaulted,
      workerUrlBase,
      workerUrlProblem,
      useWorkerInDev,
      forceHttpLoopback,
      emulatorHost,
      serviceAccountEmail,
      oidcAudience,
      dashboardPort,
      workerPaths
    })
  }).pipe(
    Effect.tapError((error) =>
      Log.error(Events.configMissing, error.message, { variables: error.variables.join(",") })
    )
  )

const optionalString = (name: string) => Config.option(Config.string(name))

const readConfig = Config.all({
  appEnv: optionalString(variables.appEnv),
  dryRun: optionalString(variables.dryRun),
  project: optionalString(variables.project),
  location: optionalString(variables.location),
  queue: optionalString(variables.queue),
  urlBase: optionalString(variables.urlBase),
  auth: Config.option(Config.redacted(variables.auth)),
  workerUrlBase: optionalString(variables.workerUrlBase),
  useWorkerInDev: optionalString(variables.useWorkerInDev),
  forceHttpLoopback: optionalString(variables.forceHttpLoopback),
  emulatorHost: optionalString(variables.emulatorHost),
  serviceAccountEmail: optionalString(variables.serviceAccountEmail),
  oidcAudience: optionalString(variables.oidcAudience),
  dashboardPort: optionalString(variables.dashboardPort)
})

const fromConfig = (options?: {
  readonly workerPaths?: Iterable<string> | undefined
}): Effect.Effect<TasksConfigShape, ConfigError> =>
  readConfig.pipe(
    Effect.mapError((error) =>
      new ConfigError({
        message: `Could not read the effect-http-tasks configuration: ${String(error)}`,
        variables: Object.values(variables).filter((name) => String(error).includes(name))
      })
    ),
    Effect.flatMap(({ auth, ...strings }) =>
      validate({
        ...Object.fromEntries(Object.entries(strings).map(([key, value]) => [key, Option.getOrUndefined(value)])),
        auth: Option.getOrUndefined(auth),
        workerPaths: options?.workerPaths
      })
    )
  )

/**
 * The resolved configuration, as a service.
 *
 * @since 0.1.0
 * @category services
 */
export class TasksConfig extends Context.Tag("effect-http-tasks/TasksConfig")<TasksConfig, TasksConfigShape>() {
  /**
   * Validates explicit values (the same rules as the environment).
   *
   * @since 0.1.0
   * @category constructors
   */
  static readonly make: (input: TasksConfigInput) => Effect.Effect<TasksConfigShape, ConfigError> = validate
  /**
   * Reads every variable through effect's `Config` and validates them.
   * `workerPaths` replaces {@link defaultWorkerPaths}.
   *
   * @since 0.1.0
   * @category constructors
   */
  static readonly fromConfig = fromConfig
  /**
   * The configuration read through effect's `Config`.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layer: Layer.Layer<TasksConfig, ConfigError> = Layer.effect(this, fromConfig())
  /**
   * The configuration from explicit values.
   *
   * @since 0.1.0
   * @category layers
   */
  static readonly layerWith = (input: TasksConfigInput): Layer.Layer<TasksConfig, ConfigError> =>
    Layer.effect(this, validate(input))
}
