/**
 * How the values both configurations read are parsed: `APP_ENV`, booleans and the
 * shared secret. The enqueuing side (`TasksConfig`) and the receiving side (the task
 * server's configuration) read them the same way.
 */
import { Option, Redacted } from "effect"

/**
 * The environment kind derived from `APP_ENV`: `dev` for `dev`, `development`,
 * `local` or unset; `test` for `test` or `testing`; `production` for anything else.
 */
export type AppEnv = "dev" | "test" | "production"

/** The `TASKS_AUTH` used in dev/test when none is set. Refused in production. */
export const DEFAULT_DEV_AUTH = "a-secure-local-secret"

const DEV = ["dev", "development", "local"]
const TEST = ["test", "testing"]

/** Parses `APP_ENV` (case-insensitive, trimmed). */
export const parseAppEnv = (value: string | undefined): AppEnv => {
  const normal = (value ?? "").trim().toLowerCase()
  if (normal === "" || DEV.includes(normal)) return "dev"
  if (TEST.includes(normal)) return "test"
  return "production"
}

/** The edit distance between two short words. */
const distance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

/**
 * How a production-like `APP_ENV` was taken, for a configuration error to say: the
 * value, that it was taken as production-like, and the nearest development or test
 * value when it looks like a typo of one. `undefined` for `production` itself.
 */
export const appEnvNote = (value: string | undefined): string | undefined => {
  const normal = (value ?? "").trim().toLowerCase()
  if (parseAppEnv(value) !== "production" || normal === "production") return undefined
  const nearest = [...DEV, ...TEST]
    .map((known) => ({ known, distance: distance(normal, known) }))
    .sort((a, b) => a.distance - b.distance)[0]!
  const hint = nearest.distance <= Math.max(2, Math.floor(nearest.known.length / 3))
    ? `; did you mean "${nearest.known}"?`
    : ""
  return `APP_ENV ${JSON.stringify(value)} is taken as production-like (only ${
    [...DEV, ...TEST].join(", ")
  } and unset are not)${hint}`
}

const TRUE = ["true", "1", "yes", "on"]
const FALSE = ["false", "0", "no", "off", ""]

/**
 * Parses a boolean the way every boolean variable is parsed: `true/1/yes/on` and
 * `false/0/no/off/""` in any case, surrounding blanks ignored; `None` for anything else.
 */
export const parseBoolean = (value: string): Option.Option<boolean> => {
  const normal = value.trim().toLowerCase()
  return TRUE.includes(normal) ? Option.some(true) : FALSE.includes(normal) ? Option.some(false) : Option.none()
}

/** The message of a boolean that did not parse. */
export const booleanProblem = (value: string): string =>
  `must be one of true/1/yes/on or false/0/no/off, got ${JSON.stringify(value)}`

/**
 * The shared secret as given, trimmed (HTTP servers strip blanks from header values),
 * `None` when unset or blank. It stays `Redacted` throughout.
 */
export const readSecret = (value: string | Redacted.Redacted<string> | undefined): Option.Option<Redacted.Redacted<string>> =>
  Option.fromNullable(value).pipe(
    Option.map((value) => (Redacted.isRedacted(value) ? Redacted.value(value) : value).trim()),
    Option.filter((value) => value !== ""),
    Option.map(Redacted.make)
  )

/** Whether `secret` is the development default, which production refuses. */
export const isDevDefault = (secret: Redacted.Redacted<string>): boolean => Redacted.value(secret) === DEFAULT_DEV_AUTH
