import { type Cause, Effect, type Fiber, FiberRef, LogLevel } from "effect"
import type { EventName } from "../Events.js"

export { LogLevel }

/** Annotations an event may carry besides its name. Values are never secrets. */
export type EventFields = Readonly<Record<string, string | number | boolean | undefined>>

/** One event: its level, name, human message and the facts of its own. */
export type Event = readonly [level: LogLevel.LogLevel, event: EventName, message: string, fields?: EventFields | undefined]

/** Whether `fiber` would log at `level`: its minimum log level lets it through. */
export const enabled = (fiber: Fiber.RuntimeFiber<unknown, unknown>, level: LogLevel.LogLevel): boolean =>
  level.ordinal >= fiber.getFiberRef(FiberRef.currentMinimumLogLevel).ordinal

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
  Effect.withFiberRuntime((fiber) => enabled(fiber, level) ? emit(level, event, message, fields, cause) : Effect.void)

/**
 * `effect`, preceded by those of `events` that `fiber` logs, each with the common
 * `fields` and its own. When it logs none (the usual case in production, with
 * Info filtered out) this is `effect` itself: not one step is added.
 */
export const before = <A, E, R>(
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  events: ReadonlyArray<Event>,
  fields: EventFields,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  let logs: Effect.Effect<void> | undefined
  const minimum = fiber.getFiberRef(FiberRef.currentMinimumLogLevel).ordinal
  for (const [level, event, message, own] of events) {
    if (level.ordinal < minimum) continue
    const log = emit(level, event, message, own === undefined ? fields : { ...fields, ...own })
    logs = logs === undefined ? log : Effect.zipRight(logs, log)
  }
  return logs === undefined ? effect : Effect.zipRight(logs, effect)
}

export const info = (event: EventName, message: string, fields?: EventFields) =>
  logEvent(LogLevel.Info, event, message, fields)

export const warn = (event: EventName, message: string, fields?: EventFields) =>
  logEvent(LogLevel.Warning, event, message, fields)

export const error = (event: EventName, message: string, fields?: EventFields, cause?: Cause.Cause<unknown>) =>
  logEvent(LogLevel.Error, event, message, fields, cause)
