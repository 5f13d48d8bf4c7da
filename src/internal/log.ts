import { type Cause, Effect, FiberRef, LogLevel } from "effect"
import type { EventName } from "../Events.js"

export { LogLevel }

/** Annotations an event may carry besides its name. Values are never secrets. */
export type EventFields = Readonly<Record<string, string | number | boolean | undefined>>

/**
 * Logs one event: a human message, with `event` and the given facts as annotations.
 * Undefined facts are left out. An event below the fiber's minimum log level costs
 * one comparison: enqueueHttpTask logs several per call, on every request path.
 */
export const logEvent = (
  level: LogLevel.LogLevel,
  event: EventName,
  message: string,
  fields: EventFields = {},
  cause?: Cause.Cause<unknown>
): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    if (LogLevel.lessThan(level, fiber.getFiberRef(FiberRef.currentMinimumLogLevel))) return Effect.void
    const annotations: Record<string, unknown> = { event }
    for (const key in fields) {
      const value = fields[key]
      if (value !== undefined) annotations[key] = value
    }
    const log = cause === undefined ? Effect.logWithLevel(level, message) : Effect.logWithLevel(level, message, cause)
    return Effect.annotateLogs(log, annotations)
  })

/** Several Info events in order, each with the common facts and its own, for one level check. */
export const infos = (
  events: ReadonlyArray<readonly [EventName, string, EventFields?]>,
  fields: EventFields
): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) =>
    LogLevel.lessThan(LogLevel.Info, fiber.getFiberRef(FiberRef.currentMinimumLogLevel))
      ? Effect.void
      : Effect.forEach(
        events,
        ([event, message, own]) => logEvent(LogLevel.Info, event, message, own === undefined ? fields : { ...fields, ...own }),
        { discard: true }
      )
  )

export const info = (event: EventName, message: string, fields?: EventFields) =>
  logEvent(LogLevel.Info, event, message, fields)

export const warn = (event: EventName, message: string, fields?: EventFields) =>
  logEvent(LogLevel.Warning, event, message, fields)

export const error = (event: EventName, message: string, fields?: EventFields, cause?: Cause.Cause<unknown>) =>
  logEvent(LogLevel.Error, event, message, fields, cause)
