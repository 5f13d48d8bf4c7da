/**
 * OIDC ID tokens for HTTP tasks with an `oidcToken`: RS256 JWTs signed with a key generated when
 * the emulator starts, and an HTTP server on 127.0.0.1 that serves the public key as a JWKS (at
 * Google's path `/oauth2/v3/certs` and at `/.well-known/jwks.json`) with an OpenID discovery
 * document, so receivers can verify the tokens in tests. Tasks with an `oauthToken` get an
 * opaque access token, which no one can verify.
 *
 * @internal
 */
import { createHash, generateKeyPair, type KeyObject, randomBytes, sign } from "node:crypto"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { httpServerTimeouts, type SlowClientTimeouts } from "../slowClients.js"

/** Google's ID token issuer, the default `iss`. */
export const GOOGLE_ISSUER = "https://accounts.google.com"

/** What an ID token says. */
export interface IdTokenClaims {
  readonly iss: string
  readonly aud: string
  readonly azp: string
  readonly sub: string
  readonly email: string
  readonly email_verified: boolean
  readonly iat: number
  readonly exp: number
}

/** A running signer with its JWKS server. */
export interface OidcIssuer {
  readonly issuer: string
  readonly jwksUri: string
  readonly keyId: string
  /** Signs an ID token for `serviceAccountEmail` with audience `audience`. */
  readonly idToken: (serviceAccountEmail: string, audience: string, nowMs: number) => string
  readonly close: () => Promise<void>
}

/** An OAuth access token for a task with an `oauthToken`: random, shaped like Google's. */
export const emulatorAccessToken = (): string => `ya29.emulator-${randomBytes(24).toString("base64url")}`

const base64url = (data: Buffer | string): string => Buffer.from(data).toString("base64url")

const generateRsaKey = (): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> =>
  new Promise((resolve, reject) =>
    generateKeyPair("rsa", { modulusLength: 2048 }, (error, publicKey, privateKey) =>
      error ? reject(error) : resolve({ publicKey, privateKey })
    )
  )

/** A stable numeric subject for a service account, shaped like Google's 21-digit IDs. */
const subjectFor = (email: string): string => {
  const digest = createHash("sha256").update(email).digest()
  return "1" + (digest.readBigUInt64BE(0) % 10n ** 20n).toString().padStart(20, "0")
}

/** Generates a key and starts the JWKS server on 127.0.0.1 (`port` 0: any free port). */
export const startOidcIssuer = async (options: {
  readonly issuer: string
  readonly port: number
  readonly timeouts: SlowClientTimeouts
}): Promise<OidcIssuer> => {
  const { privateKey, publicKey } = await generateRsaKey()
  const jwk = publicKey.export({ format: "jwk" })
  const keyId = createHash("sha256").update(String(jwk.n)).digest("hex").slice(0, 40)
  const jwks = JSON.stringify({ keys: [{ ...jwk, kid: keyId, alg: "RS256", use: "sig" }] })

  const server = http.createServer(httpServerTimeouts(options.timeouts), (request, response) => {
    const path = (request.url ?? "/").split("?")[0]
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { allow: "GET, HEAD" }).end()
      return
    }
    if (path === "/oauth2/v3/certs" || path === "/.well-known/jwks.json") {
      response.writeHead(200, { "content-type": "application/json" }).end(jwks)
      return
    }
    if (path === "/.well-known/openid-configuration") {
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({
        issuer: options.issuer,
        jwks_uri: jwksUri,
        id_token_signing_alg_values_supported: ["RS256"],
        subject_types_supported: ["public"],
        response_types_supported: ["id_token"],
        claims_supported: ["aud", "azp", "email", "email_verified", "exp", "iat", "iss", "sub"]
      }))
      return
    }
    response.writeHead(404, { "content-type": "text/plain" }).end("Not found")
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port, "127.0.0.1", () => {
      server.off("error", reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const jwksUri = `http://127.0.0.1:${port}/oauth2/v3/certs`

  const idToken = (serviceAccountEmail: string, audience: string, nowMs: number): string => {
    const iat = Math.floor(nowMs / 1000)
    const sub = subjectFor(serviceAccountEmail)
    const claims: IdTokenClaims = {
      iss: options.issuer,
      aud: audience,
      azp: sub,
      sub,
      email: serviceAccountEmail,
      email_verified: true,
      iat,
      exp: iat + 3600
    }
    const input = `${base64url(JSON.stringify({ alg: "RS256", kid: keyId, typ: "JWT" }))}.${
      base64url(JSON.stringify(claims))
    }`
    return `${input}.${base64url(sign("sha256", Buffer.from(input), privateKey))}`
  }

  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })

  return { issuer: options.issuer, jwksUri, keyId, idToken, close }
}
