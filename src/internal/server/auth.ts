/**
 * The `X-Tasks-Auth` check: the received value and the secret are both hashed to
 * SHA-256 digests of equal length and compared with `crypto.timingSafeEqual`, so
 * the time taken says nothing about the secret, not even its length.
 */
import { type Redacted as R, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest()

/** A check of received `X-Tasks-Auth` values against `secret`; a missing header never matches. */
export const makeSecretCheck = (secret: R.Redacted<string>): (received: string | undefined) => boolean => {
  const expected = digest(Redacted.value(secret))
  return (received) => received !== undefined && timingSafeEqual(digest(received), expected)
}
