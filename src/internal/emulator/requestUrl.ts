/**
 * The URL of a request to the emulator's HTTP port. The request target is appended to a base
 * rather than resolved against it: resolved, a target that starts with two slashes (`//`,
 * `//host/path`) reads as another host, or throws.
 *
 * @internal
 */
import type * as http from "node:http"

export const requestUrl = (request: http.IncomingMessage): URL => {
  const target = request.url ?? "/"
  try {
    return new URL(`http://emulator${target.startsWith("/") ? target : `/${target}`}`)
  } catch {
    // Not a path at all (an absolute-form or malformed target): no route matches it.
    return new URL("http://emulator/.invalid")
  }
}
