/**
 * The one way this package logs an event: a human message through effect's logger,
 * with `event` and the event's facts as annotations. The level check lives here,
 * so that an event below the fiber's minimum log level costs one comparison.
 */
import { type Cause, Effect, FiberRef, FiberRefs, LogLevel, type Runtime } from "effect"
import type { EventName } from "../Events.js"

export { LogLevel }

/** Annotations an event may carry besides its name. Values are never secrets. */
export type EventFields = Readonly<Record<string, string | number | boolean | undefined>>

/** One event: its level, name, human message and the facts of its own. */
export type Event = readonly [level: LogLevel.LogLevel, event: EventName, message: string, fields?: EventFields | undefined]

const emit = (level: LogLevel.LogLevel, event: EventName, message: string, fields: EventFields, cause?: Cause.Cause<unknown>) => {
  const annotations: Record<string, unknown> = { event }
  for (const key in fields) {
    const value = fields[key]
    if (value !== undefined) annotations[key] = value
  }
  const log = cause === undefined ? Effect.logWithLevel(level, message) : Effect.logWithLevel(level, message, cause)
  return Effect.annotateLogs(log, annotations)
}

/**
 * Logs `events` in order, each with the common `fields` and its own, skipping those
 * below the fiber's minimum log level. The level is read once for the whole list:
 * `enqueueHttpTask` logs several step events per call, on every request path
 * (benchmarks B1, B2 and B5), and with the usual minimum level none of them is
 * formatted or annotated at all.
 */
export const events = (list: ReadonlyArray<Event>, fields: EventFields = {}): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    const minimum = fiber.getFiberRef(FiberRef.currentMinimumLogLevel).ordinal
    let logs: Effect.Effect<void> = Effect.void
    // Indexed rather than destructured: destructuring takes an iterator per event and per list.
    for (let i = 0; i < list.length; i++) {
      const event = list[i]!
      if (event[0].ordinal < minimum) continue
      const own = event[3]
      const log = emit(event[0], event[1], event[2], own === undefined ? fields : { ...fields, ...own })
      logs = logs === Effect.void ? log : Effect.zipRight(logs, log)
    }
    return logs
  })

/**
 * Whether the fiber that `runtime` was taken from would log at `level`: an event that
 * would be filtered out is not even run (the in-process queue logs outside the task's
 * fiber, once per attempt).
 */
export const enabledIn = (runtime: Runtime.Runtime<never>, level: LogLevel.LogLevel): boolean => {
  // Read from the refs' map directly: `FiberRefs.getOrDefault` allocates an Option per call,
  // and this runs several times per in-process task (benchmark B5).
  const minimum: LogLevel.LogLevel = runtime.fiberRefs.locals.get(FiberRef.currentMinimumLogLevel)?.[0][1] ??
    FiberRefs.getOrDefault(runtime.fiberRefs, FiberRef.currentMinimumLogLevel)
  return level.ordinal >= minimum.ordinal
}

/** Logs one event (see {@link events}); a `cause` is logged with it. */
export const logEvent = (
  level: LogLevel.LogLevel,
  event: EventName,
  message: string,
  fields: EventFields = {},
  cause?: Cause.Cause<unknown>
): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) =>
    level.ordinal < fiber.getFiberRef(FiberRef.currentMinimumLogLevel).ordinal
      ? Effect.void
      : emit(level, event, message, fields, cause)
  )

/** A step of a successful dispatch: seen only when Debug is on. */
export const debug = (event: EventName, message: string, fields?: EventFields) =>
  logEvent(LogLevel.Debug, event, message, fields)

/** An outcome: the one line a successful dispatch prints by default. */
export const info = (event: EventName, message: string, fields?: EventFields) =>
  logEvent(LogLevel.Info, event, message, fields)

export const warn = (event: EventName, message: string, fields?: EventFields, cause?: Cause.Cause<unknown>) =>
  logEvent(LogLevel.Warning, event, message, fields, cause)

export const error = (event: EventName, message: string, fields?: EventFields, cause?: Cause.Cause<unknown>) =>
  logEvent(LogLevel.Error, event, message, fields, cause)
