/**
 * OIDC tokens of HTTP tasks: an `Authorization: Bearer` RS256 JWT that a receiver verifies with
 * the JWKS the emulator serves over HTTP (node:crypto only, as a receiver would).
 */
import type { CloudTasksClient } from "@google-cloud/tasks"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { createPublicKey, type JsonWebKey, verify } from "node:crypto"
import { CloudTasksEmulator, type RunningCloudTasksEmulator } from "../../src/CloudTasksEmulator.js"
import { createQueue } from "../utils/emulator.js"
import { makeClient } from "../utils/emulatorClient.js"
import { header, startTarget, type Target } from "../utils/emulatorTarget.js"

let emulator: RunningCloudTasksEmulator
let client: CloudTasksClient
let target: Target

beforeAll(async () => {
  emulator = await CloudTasksEmulator.start()
  client = makeClient(emulator.host)
  target = await startTarget()
})

afterAll(async () => {
  await client.close()
  await emulator.stop()
  await target.close()
})

interface Jwk extends JsonWebKey {
  readonly kid: string
}

/** Verifies an RS256 JWT against a JWKS fetched from `jwksUri`; returns header and claims. */
const verifyJwt = async (token: string, jwksUri: string) => {
  const [encodedHeader, encodedClaims, signature] = token.split(".")
  const jwtHeader = JSON.parse(Buffer.from(encodedHeader!, "base64url").toString()) as { alg: string; kid: string }
  const { keys } = (await (await fetch(jwksUri)).json()) as { keys: Array<Jwk> }
  const jwk = keys.find((key) => key.kid === jwtHeader.kid)
  if (jwk === undefined) return { valid: false as const }
  const valid = verify(
    "sha256",
    Buffer.from(`${encodedHeader}.${encodedClaims}`),
    createPublicKey({ key: jwk, format: "jwk" }),
    Buffer.from(signature!, "base64url")
  )
  return {
    valid,
    header: jwtHeader,
    claims: JSON.parse(Buffer.from(encodedClaims!, "base64url").toString()) as Record<string, unknown>
  }
}

const bearer = (value: string | undefined) => {
  expect(value).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/)
  return value!.slice("Bearer ".length)
}

describe("oidcToken", () => {
  it("sends a Bearer ID token that verifies with the served JWKS, audience defaulting to the URL", async () => {
    const queue = await createQueue(client)
    const url = `${target.url}/secure?x=1`
    const [task] = await client.createTask({
      parent: queue,
      task: { httpRequest: { url, oidcToken: { serviceAccountEmail: "tasks@test-project.iam.gserviceaccount.com" } } }
    })
    expect(task.httpRequest?.oidcToken?.serviceAccountEmail).toBe("tasks@test-project.iam.gserviceaccount.com")
    const [attempt] = await emulator.waitForAttempts(1, { task: task.name! })
    const received = target.requests.find((request) => request.path === "/secure?x=1")!
    const token = bearer(header(received, "Authorization"))
    expect(attempt!.headers["Authorization"]).toBe(`Bearer ${token}`)

    const { valid, header: jwtHeader, claims } = await verifyJwt(token, emulator.jwksUri)
    expect(valid).toBe(true)
    expect(jwtHeader?.alg).toBe("RS256")
    expect(claims).toMatchObject({
      iss: "https://accounts.google.com",
      aud: url,
      email: "tasks@test-project.iam.gserviceaccount.com",
      email_verified: true
    })
    expect(claims!.sub).toMatch(/^\d{21}$/)
    const iat = claims!.iat as number
    expect(claims!.exp).toBe(iat + 3600)
    expect(Math.abs(iat - Date.now() / 1000)).toBeLessThan(60)
  })

  it("uses the task's audience when given; a tampered token does not verify", async () => {
    const queue = await createQueue(client)
    const [task] = await client.createTask({
      parent: queue,
      task: {
        httpRequest: {
          url: `${target.url}/aud`,
          oidcToken: { serviceAccountEmail: "sa@p.iam.gserviceaccount.com", audience: "https://my-service.example" }
        }
      }
    })
    const [attempt] = await emulator.waitForAttempts(1, { task: task.name! })
    const token = bearer(attempt!.headers["Authorization"])
    const checked = await verifyJwt(token, emulator.jwksUri)
    expect(checked.valid).toBe(true)
    expect(checked.claims?.aud).toBe("https://my-service.example")

    const [h, c, s] = token.split(".")
    const forged = Buffer.from(c!, "base64url").toString().replace("https://my-service.example", "https://other.example")
    const tampered = `${h}.${Buffer.from(forged).toString("base64url")}.${s}`
    expect((await verifyJwt(tampered, emulator.jwksUri)).valid).toBe(false)
  })

  it("serves an OpenID discovery document naming the issuer and the JWKS", async () => {
    const discovery = (await (await fetch(new URL("/.well-known/openid-configuration", emulator.jwksUri))).json()) as Record<string, unknown>
    expect(discovery).toMatchObject({ issuer: emulator.issuer, jwks_uri: emulator.jwksUri })
  })
})

describe("oauthToken", () => {
  it("sends an Authorization: Bearer access token", async () => {
    const queue = await createQueue(client)
    const [task] = await client.createTask({
      parent: queue,
      task: { httpRequest: { url: `${target.url}/oauth`, oauthToken: { serviceAccountEmail: "sa@p.iam.gserviceaccount.com" } } }
    })
    const [attempt] = await emulator.waitForAttempts(1, { task: task.name! })
    expect(attempt!.headers["Authorization"]).toMatch(/^Bearer \S+$/)
  })
})
