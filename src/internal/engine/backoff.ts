/**
 * Retry timing of a queue's `RetryConfig`, as Cloud Tasks documents it: the backoff law, the
 * harder backoff after 429 and 503, `Retry-After`, and when to stop retrying.
 *
 * @internal
 */
import type { RetrySettings } from "./model.js"

/**
 * The delay before retry number `retry` (1 for the first retry). The interval starts at
 * `minBackoff`, doubles `maxDoublings` times, then grows linearly by the last doubled interval,
 * and is capped at `maxBackoff`: with 10 s, 300 s and 3 doublings the retries come after
 * 10, 20, 40, 80, 160, 240, 300, 300, … seconds.
 */
export const backoffDelay = (settings: RetrySettings, retry: number): number => {
  const k = Math.max(1, retry)
  const doublings = Math.max(0, settings.maxDoublings)
  const interval = k - 1 <= doublings
    ? settings.minBackoffMs * 2 ** (k - 1)
    : settings.minBackoffMs * 2 ** doublings * (k - doublings)
  return Math.min(interval, settings.maxBackoffMs)
}

/**
 * The delay before retry number `retry` after an attempt that got `status`. 429 and 503 mean
 * the target is overloaded: the delay is twice the normal backoff (still capped at
 * `maxBackoff`), and a `Retry-After` the target sent is honoured even beyond `maxBackoff`.
 */
export const retryDelay = (
  settings: RetrySettings,
  retry: number,
  status: number | undefined,
  retryAfterMs: number | undefined
): number => {
  const base = backoffDelay(settings, retry)
  const overloaded = status === 429 || status === 503
  const delay = overloaded ? Math.max(base, Math.min(base * 2, settings.maxBackoffMs)) : base
  return retryAfterMs !== undefined ? Math.max(delay, retryAfterMs) : delay
}

/**
 * Whether a task that was attempted `attempts` times, the first at `firstAttemptAt`, may be
 * tried again at `now`. With both limits set, retries stop only when both are reached; an
 * unset limit (`-1` attempts, `0` duration) does not stop retries by itself.
 */
export const mayRetry = (settings: RetrySettings, attempts: number, firstAttemptAt: number, now: number): boolean => {
  const attemptsLimited = settings.maxAttempts > 0
  const durationLimited = settings.maxRetryDurationMs > 0
  const attemptsReached = attemptsLimited && attempts >= settings.maxAttempts
  const durationReached = durationLimited && now - firstAttemptAt >= settings.maxRetryDurationMs
  if (attemptsLimited && durationLimited) return !(attemptsReached && durationReached)
  if (attemptsLimited) return !attemptsReached
  if (durationLimited) return !durationReached
  return true
}

/**
 * A `Retry-After` header value (seconds, or an HTTP date read against `now`, the engine's
 * clock) in milliseconds from `now`.
 */
export const parseRetryAfter = (value: string | undefined, now: number): number | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}
