/**
 * Verifying the OIDC ID token Cloud Tasks sends with a task (`Authorization: Bearer`):
 * an RS256 signature by a key of the JWKS (Google's by default), the issuer, the
 * audience, the expiry, and optionally the service account's email. Keys are cached and
 * fetched again when a token names a key the cache does not hold (Google rotates them),
 * at most once per {@link REFRESH_INTERVAL_MS}, so forged key IDs cannot make the
 * server fetch on every request.
 */
import { Clock, Effect, Option } from "effect"
import { createPublicKey, type JsonWebKey, type KeyObject, verify } from "node:crypto"
import type { TaskServerOidc } from "../../TaskServerConfig.js"

/** Google's JWKS for the ID tokens it signs. */
export const GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
/** The issuers of Google's ID tokens. */
export const GOOGLE_ISSUERS: ReadonlyArray<string> = ["https://accounts.google.com", "accounts.google.com"]

/** How often the keys may be fetched again for an unknown key ID. */
const REFRESH_INTERVAL_MS = 10_000
/** How far a token's times may be off the server's clock. */
const CLOCK_SKEW_S = 60
/** How long a JWKS fetch may take. */
const FETCH_TIMEOUT_MS = 5_000


/** Why a token was refused: a reason for the event, never the token. */
export type OidcRefusal =
  | "missing"
  | "malformed"
  | "unsupported_algorithm"
  | "unknown_key"
  | "bad_signature"
  | "wrong_issuer"
  | "wrong_audience"
  | "expired"
  | "not_yet_valid"
  | "email_not_allowed"
  | "keys_unavailable"

interface Claims {
  readonly iss?: unknown
  readonly aud?: unknown
  readonly exp?: unknown
  readonly iat?: unknown
  readonly email?: unknown
  readonly email_verified?: unknown
}

const decodePart = (part: string): unknown => JSON.parse(Buffer.from(part, "base64url").toString("utf8"))

/** The keys of a JWKS document, by key ID (RSA keys only). */
const parseJwks = (document: unknown): Map<string, KeyObject> => {
  const keys = new Map<string, KeyObject>()
  const list = (document as { keys?: unknown } | null)?.keys
  if (!Array.isArray(list)) return keys
  for (const jwk of list as Array<JsonWebKey & { kid?: unknown }>) {
    if (jwk.kty !== "RSA" || typeof jwk.kid !== "string") continue
    try {
      keys.set(jwk.kid, createPublicKey({ key: jwk, format: "jwk" }))
    } catch {
      // a key that does not parse cannot verify anything
    }
  }
  return keys
}

/**
 * A verifier of `Authorization` header values: succeeds with the token's email, or
 * fails with why the token was refused.
 */
export const makeOidcVerifier = (settings: TaskServerOidc) =>
  Effect.gen(function*() {
    let keys = new Map<string, KeyObject>()
    let fetchedAt = Number.NEGATIVE_INFINITY
    let fetchFailed = false
    const lock = yield* Effect.makeSemaphore(1)

    /** The key `kid`, fetching the JWKS when it is not cached and the last fetch is old enough. */
    const keyFor = (kid: string) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const cached = keys.get(kid)
        if (cached !== undefined) return Option.some(cached)
        const now = yield* Clock.currentTimeMillis
        if (now - fetchedAt < REFRESH_INTERVAL_MS) {
          return yield* fetchFailed ? Effect.fail("keys_unavailable" as const) : Effect.succeed(Option.none())
        }
        fetchedAt = now
        const document = yield* Effect.tryPromise(async () => {
          const response = await fetch(settings.jwksUrl, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) })
          if (!response.ok) throw new Error(`HTTP ${response.status}`)
          return response.json() as Promise<unknown>
        }).pipe(Effect.mapError(() => "keys_unavailable" as const), Effect.tapBoth({
          onFailure: () => Effect.sync(() => (fetchFailed = true)),
          onSuccess: () => Effect.sync(() => (fetchFailed = false))
        }))
        keys = parseJwks(document)
        return Option.fromNullable(keys.get(kid))
      }))

    return (authorization: string | undefined): Effect.Effect<string, OidcRefusal> =>
      Effect.gen(function*() {
        const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? "")?.[1]
        if (token === undefined) return yield* Effect.fail("missing" as const)
        const parts = token.split(".")
        if (parts.length !== 3) return yield* Effect.fail("malformed" as const)
        const [encodedHeader, encodedClaims, signature] = parts as [string, string, string]
        let header: { alg?: unknown; kid?: unknown }
        let claims: Claims
        try {
          header = decodePart(encodedHeader) as typeof header
          claims = decodePart(encodedClaims) as Claims
        } catch {
          return yield* Effect.fail("malformed" as const)
        }
        if (header === null || typeof header !== "object" || claims === null || typeof claims !== "object") {
          return yield* Effect.fail("malformed" as const)
        }
        if (header.alg !== "RS256") return yield* Effect.fail("unsupported_algorithm" as const)
        if (typeof header.kid !== "string") return yield* Effect.fail("unknown_key" as const)
        const key = yield* keyFor(header.kid)
        if (Option.isNone(key)) return yield* Effect.fail("unknown_key" as const)
        const signed = Buffer.from(`${encodedHeader}.${encodedClaims}`)
        if (!verify("RSA-SHA256", signed, key.value, Buffer.from(signature, "base64url"))) {
          return yield* Effect.fail("bad_signature" as const)
        }
        if (typeof claims.iss !== "string" || !settings.issuers.includes(claims.iss)) {
          return yield* Effect.fail("wrong_issuer" as const)
        }
        const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud]
        if (!audiences.includes(settings.audience)) return yield* Effect.fail("wrong_audience" as const)
        const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
        if (typeof claims.exp !== "number" || claims.exp + CLOCK_SKEW_S <= now) return yield* Effect.fail("expired" as const)
        if (typeof claims.iat === "number" && claims.iat - CLOCK_SKEW_S > now) {
          return yield* Effect.fail("not_yet_valid" as const)
        }
        const email = typeof claims.email === "string" && claims.email_verified === true ? claims.email : ""
        if (settings.emails.length > 0 && !settings.emails.includes(email)) {
          return yield* Effect.fail("email_not_allowed" as const)
        }
        return email
      })
  })
