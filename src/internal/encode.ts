/**
 * Input validation shared by every route: the task path, the JSON payload and the
 * enqueue options are checked once, before a route is chosen, so nothing invalid
 * is ever dispatched.
 */
import { Either } from "effect"

const pathChar = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]$/

/**
 * Why `path` is not a task path, or `undefined` when it is one: a relative path
 * that starts with `/`, with no scheme or host (`//`), no `..` segment, no
 * whitespace, control characters, query or fragment.
 */
export const pathProblem = (path: string): string | undefined => {
  if (typeof path !== "string") return "the path must be a string"
  if (!path.startsWith("/")) return "the path must start with '/'"
  if (path.startsWith("//")) return "the path must not name a host ('//')"
  for (const char of path) {
    if (!pathChar.test(char)) {
      const code = char.codePointAt(0)!.toString(16).padStart(4, "0")
      return `the path contains a character that is not allowed (U+${code})`
    }
  }
  if (path.split("/").some((segment) => segment === ".." || segment === ".")) {
    return "the path must not contain '.' or '..' segments"
  }
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return "the path has a malformed percent-escape"
  return undefined
}

const describe = (value: unknown): string => {
  if (value === null) return "null"
  if (typeof value === "number") return String(value)
  if (typeof value === "object") return value.constructor?.name ?? "object"
  return typeof value
}

const at = (where: string, key: string | number): string =>
  typeof key === "number" ? `${where}[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? `${where}.${key}` : `${where}[${JSON.stringify(key)}]`

/**
 * Where `payload` stops being losslessly JSON-serialisable, or `undefined` when it
 * is. Rejected: BigInt, functions, symbols, `undefined` outside object properties,
 * non-finite numbers, cycles, and objects that are neither plain nor arrays nor
 * have `toJSON` (a Map or Set would silently become `{}`).
 */
export const payloadProblem = (payload: unknown): string | undefined => {
  const ancestors = new Set<object>()
  const visit = (value: unknown, where: string, inObject: boolean): string | undefined => {
    switch (typeof value) {
      case "string":
      case "boolean":
        return undefined
      case "number":
        return Number.isFinite(value) ? undefined : `${where} is ${value}, which JSON cannot represent`
      case "undefined":
        return inObject ? undefined : `${where} is undefined, which JSON cannot represent`
      case "bigint":
      case "function":
      case "symbol":
        return `${where} is a ${typeof value}, which is not JSON-serialisable`
    }
    if (value === null) return undefined
    const object = value as object
    if (typeof (object as { toJSON?: unknown }).toJSON === "function") {
      let json: unknown
      try {
        json = (object as { toJSON: (key: string) => unknown }).toJSON("")
      } catch (cause) {
        return `${where}.toJSON() threw: ${String(cause)}`
      }
      return json === object ? undefined : visit(json, where, inObject)
    }
    if (ancestors.has(object)) return `${where} refers back to itself (a cycle)`
    const isArray = Array.isArray(object)
    const proto = Object.getPrototypeOf(object)
    if (!isArray && proto !== Object.prototype && proto !== null) {
      return `${where} is a ${describe(object)}, which is not a plain object and would not survive JSON`
    }
    ancestors.add(object)
    try {
      if (isArray) {
        for (let i = 0; i < object.length; i++) {
          const problem = visit(object[i], at(where, i), false)
          if (problem !== undefined) return problem
        }
      } else {
        for (const key of Object.keys(object)) {
          const problem = visit((object as Record<string, unknown>)[key], at(where, key), true)
          if (problem !== undefined) return problem
        }
      }
      return undefined
    } finally {
      ancestors.delete(object)
    }
  }
  return visit(payload, "payload", false)
}

/** The payload as JSON text, or why it cannot be one. */
export const encodePayload = (payload: unknown): Either.Either<string, string> => {
  const problem = payloadProblem(payload)
  return problem === undefined ? Either.right(JSON.stringify(payload)) : Either.left(problem)
}
