/**
 * Running a registered handler, the same way in-process and behind the task server:
 * `decode` the received JSON, then `handle` the payload with the handler's services.
 */
import { Effect } from "effect"
import type { TaskPayloadError } from "../Errors.js"
import type { TaskHandler } from "../TaskHandlers.js"

/** `handle` on a decoded payload, with the services the handler captured (over the caller's own). */
export const runTaskHandler = (handler: TaskHandler, payload: unknown): Effect.Effect<unknown, unknown> =>
  Effect.provide(handler.handle(payload), handler.services) as Effect.Effect<unknown, unknown>

/** `decode`, then `handle`: the whole task as the local route runs it. */
export const runTask = (handler: TaskHandler, json: unknown): Effect.Effect<unknown, unknown | TaskPayloadError> =>
  Effect.flatMap(handler.decode(json), (payload) => runTaskHandler(handler, payload))
