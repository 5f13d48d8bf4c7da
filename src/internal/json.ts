/**
 * Parsing a task's JSON body the same way in-process and behind the task server: a
 * `__proto__` key is dropped, so that no payload handed to a handler (or copied by a
 * Schema that keeps extra keys) can carry inherited fields.
 */
import { Either } from "effect"

const withoutProto = (key: string, value: unknown): unknown => (key === "__proto__" ? undefined : value)

/**
 * The JSON value of `text`, without `__proto__` keys, or why it is not one. Only a
 * text that may hold such a key (spelt out, or behind a `\u` escape) pays for the walk.
 */
export const parseTaskJson = (text: string): Either.Either<unknown, string> => {
  try {
    const suspect = text.includes("__proto__") || text.includes("\\u")
    return Either.right(suspect ? JSON.parse(text, withoutProto) : JSON.parse(text))
  } catch (error) {
    return Either.left(error instanceof RangeError ? "The body is nested too deeply" : "The body is not valid JSON")
  }
}
