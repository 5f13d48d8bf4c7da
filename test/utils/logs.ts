/**
 * Captures log entries so that tests can assert on the events a user would see.
 */
import { Cause, Effect, HashMap, Layer, Logger, LogLevel } from "effect"

export interface LogEntry {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
  /** The whole entry as `Logger.logFmt` would print it. */
  readonly line: string
  readonly cause: string
}

export interface CapturedLogs {
  readonly entries: Array<LogEntry>
  /** The `event` annotations, in order. */
  readonly events: () => Array<string>
  /** The entries of one event. */
  readonly of: (event: string) => Array<LogEntry>
}

/** A fresh capture and the layer that routes every log entry into it, Debug included (the steps of a dispatch). */
export const captureLogs = (): { readonly logs: CapturedLogs; readonly layer: Layer.Layer<never> } => {
  const entries: Array<LogEntry> = []
  const logger = Logger.make((options) => {
    entries.push({
      level: options.logLevel.label,
      message: (Array.isArray(options.message) ? options.message : [options.message]).map(String).join(" "),
      annotations: Object.fromEntries(HashMap.toEntries(options.annotations)),
      line: Logger.logfmtLogger.log(options),
      cause: Cause.isEmpty(options.cause) ? "" : Cause.pretty(options.cause, { renderErrorCause: true })
    })
  })
  return {
    logs: {
      entries,
      events: () => entries.map((entry) => entry.annotations.event).filter((e): e is string => typeof e === "string"),
      of: (event) => entries.filter((entry) => entry.annotations.event === event)
    },
    layer: Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.Debug))
  }
}

/** Asserts that `expected` occurs in `actual` in order (other items may sit between). */
export const isSubsequence = (expected: ReadonlyArray<string>, actual: ReadonlyArray<string>): boolean => {
  let i = 0
  for (const item of actual) if (item === expected[i]) i++
  return i === expected.length
}

/** Runs `effect` with its logs captured. */
export const withLogs = <A, E, R>(f: (logs: CapturedLogs) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const { layer, logs } = captureLogs()
  return Effect.provide(f(logs), layer)
}
