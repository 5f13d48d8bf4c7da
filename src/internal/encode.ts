/**
 * Input validation shared by every route: the task path, the JSON payload and the
 * enqueue options are checked once, before a route is chosen, so nothing invalid
 * is ever dispatched.
 */
import { Either } from "effect"

const pathChar = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]$/
/** A path whose every character is allowed, with no `.`/`..` segment and no bad `%`: the common case, in three tests. */
const plainPath = /^\/(?!\/)[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/
const dotSegment = /(^|\/)\.\.?(\/|$)/
const badEscape = /%(?![0-9A-Fa-f]{2})/

/** Why a character may not stand in a task path, in words a user acts on. */
const charProblem = (char: string): string => {
  const code = char.codePointAt(0)!
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, "0")}`
  if (char === "?") return "query strings are not allowed in a task path: put those values in the payload"
  if (char === "#") return "fragments ('#') are not allowed in a task path"
  if (/\s/.test(char)) return `the path contains whitespace (${hex}); percent-encode it or leave it out`
  if (code < 0x20 || code === 0x7f) return `the path contains a control character (${hex})`
  if (code > 0x7f) return `the path contains a non-ASCII character (${hex}); percent-encode it`
  return `the path contains ${JSON.stringify(char)}, which is not allowed in a URL path`
}

/**
 * Why `path` is not a task path, or `undefined` when it is one: a relative path
 * that starts with `/`, with no scheme or host (`//`), no `..` segment, no
 * whitespace, control characters, query or fragment.
 */
export const pathProblem = (path: unknown): string | undefined => {
  if (typeof path !== "string") return `the path must be a string, got ${path === null ? "null" : typeof path}`
  if (plainPath.test(path) && !dotSegment.test(path) && !badEscape.test(path)) return undefined
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(path)) {
    return "a path such as /api/tasks/transcribe is expected, not a URL: the base URL comes from configuration"
  }
  if (!path.startsWith("/")) return "the path must start with '/'"
  if (path.startsWith("//")) return "the path must not name a host ('//')"
  for (const char of path) {
    if (!pathChar.test(char)) return charProblem(char)
  }
  if (dotSegment.test(path)) return "the path must not contain '.' or '..' segments"
  return "the path has a malformed percent-escape ('%' must be followed by two hex digits)"
}

const describe = (value: unknown): string => {
  if (value === null) return "null"
  if (typeof value === "number") return String(value)
  if (typeof value === "object") return value.constructor?.name ?? "object"
  return typeof value
}

const at = (where: string, key: string | number): string =>
  typeof key === "number" ? `${where}[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? `${where}.${key}` : `${where}[${JSON.stringify(key)}]`

/** A problem found below the top: the keys to it (innermost first) and its description given where it is. */
interface Failure {
  readonly keys: Array<string | number>
  readonly problem: (where: string) => string
}

const failure = (problem: (where: string) => string): Failure => ({ keys: [], problem })

/**
 * Walks `value`, found under `key` (what `JSON.stringify` passes to its `toJSON`: `""` at the top,
 * the property name, or the index as a string); the location of a problem is only spelled out
 * once one is found.
 */
const visit = (value: unknown, key: string, inObject: boolean, ancestors: Array<object>): Failure | undefined => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(value) ? undefined : failure((where) => `${where} is ${value}, which JSON cannot represent`)
    case "undefined":
      return inObject ? undefined : failure((where) => `${where} is undefined, which JSON cannot represent`)
    case "bigint":
    case "function":
    case "symbol":
      return failure((where) => `${where} is a ${typeof value}, which is not JSON-serialisable`)
  }
  if (value === null) return undefined
  const object = value as object
  if (typeof (object as { toJSON?: unknown }).toJSON === "function") {
    let json: unknown
    try {
      json = (object as { toJSON: (key: string) => unknown }).toJSON(key)
    } catch (cause) {
      return failure((where) => `${where}.toJSON() threw: ${String(cause)}`)
    }
    return json === object ? undefined : visit(json, key, inObject, ancestors)
  }
  if (ancestors.includes(object)) return failure((where) => `${where} refers back to itself (a cycle)`)
  const isArray = Array.isArray(object)
  const proto = Object.getPrototypeOf(object)
  if (!isArray && proto !== Object.prototype && proto !== null) {
    return failure((where) => `${where} is a ${describe(object)}, which is not a plain object and would not survive JSON`)
  }
  ancestors.push(object)
  let found: Failure | undefined
  if (isArray) {
    for (let i = 0; i < object.length && found === undefined; i++) {
      found = visit(object[i], String(i), false, ancestors)
      found?.keys.push(i)
    }
  } else {
    for (const key in object) {
      if (!Object.hasOwn(object, key)) continue
      found = visit((object as Record<string, unknown>)[key], key, true, ancestors)
      if (found !== undefined) {
        found.keys.push(key)
        break
      }
    }
  }
  ancestors.pop()
  return found
}

/**
 * Where `payload` stops being losslessly JSON-serialisable, or `undefined` when it
 * is. Rejected: BigInt, functions, symbols, `undefined` outside object properties,
 * non-finite numbers, cycles, and objects that are neither plain nor arrays nor
 * have `toJSON` (a Map or Set would silently become `{}`).
 */
export const payloadProblem = (payload: unknown): string | undefined => {
  const found = visit(payload, "", false, [])
  if (found === undefined) return undefined
  let where = "payload"
  for (let i = found.keys.length - 1; i >= 0; i--) where = at(where, found.keys[i]!)
  return found.problem(where)
}

/**
 * The payload as JSON text, or why it cannot be one. Never throws: a payload nested
 * too deeply for the call stack, or whose `toJSON` or getter throws, is a problem
 * like any other.
 */
export const encodePayload = (payload: unknown): Either.Either<string, string> => {
  try {
    const problem = payloadProblem(payload)
    return problem === undefined ? Either.right(JSON.stringify(payload)) : Either.left(problem)
  } catch (cause) {
    return Either.left(
      cause instanceof RangeError
        ? "the payload is nested too deeply to be encoded as JSON"
        : `the payload could not be encoded as JSON: ${cause instanceof Error ? cause.message : String(cause)}`
    )
  }
}
