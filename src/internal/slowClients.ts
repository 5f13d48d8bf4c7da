/**
 * How long the HTTP servers this package creates (the emulator's front door, its REST API and
 * dashboard, its JWKS server) wait for a slow client: the request's headers must arrive
 * within `headersMs` of the connection (or of the previous response, on a kept-alive
 * connection), and the whole request within `requestMs`; otherwise the connection is closed.
 * A client that sends its headers a byte at a time, or stops in the middle of its body, holds
 * a connection no longer than that.
 *
 * @internal
 */

/** The two bounds, in milliseconds. */
export interface SlowClientTimeouts {
  readonly headersMs: number
  readonly requestMs: number
}

/** Generous for a client on the same machine, short enough that a stuck one goes away. */
export const DEFAULT_SLOW_CLIENT_TIMEOUTS: SlowClientTimeouts = { headersMs: 10_000, requestMs: 30_000 }

/**
 * The options of `http.createServer` that enforce `timeouts`. Node checks its connections
 * every `connectionsCheckingInterval` (30 s by default, longer than the bounds themselves):
 * here a quarter of the headers bound, at most a second.
 */
export const httpServerTimeouts = (timeouts: SlowClientTimeouts) => {
  const headersTimeout = Math.max(1, Math.round(timeouts.headersMs))
  return {
    headersTimeout,
    // Node refuses a request bound shorter than the headers bound.
    requestTimeout: Math.max(headersTimeout, Math.round(timeouts.requestMs)),
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeout / 4)))
  }
}
