/**
 * Queue definitions checked the way Cloud Tasks checks a queue, and turned into the
 * settings the queue engine (and the Cloud Tasks API) takes: one check for the enqueue,
 * the in-process queue, provisioning and the emulator.
 */
import { Duration, Either, Option } from "effect"
import type { TaskQueue } from "../TaskQueue.js"
import type { SettingsPatch } from "./engine/model.js"
import { MAX_CONCURRENT_DISPATCHES, MAX_DISPATCHES_PER_SECOND, QUEUE_DEFAULTS, QUEUE_ID } from "./limits.js"

const isInteger = (value: number) => Number.isInteger(value)

/** The duration setting `name` in milliseconds, or why it is not one. */
const millis = (name: string, input: Duration.DurationInput | undefined, problems: Array<string>): number | undefined => {
  if (input === undefined) return undefined
  const decoded = Duration.decodeUnknown(input)
  if (Option.isNone(decoded) || !Duration.isFinite(decoded.value)) {
    problems.push(`${name} must be a finite duration`)
    return undefined
  }
  return Duration.toMillis(decoded.value)
}

/**
 * The engine settings of `queue`, or a message naming the queue and each setting that
 * Cloud Tasks would refuse.
 */
export const queueSettings = (queue: TaskQueue): Either.Either<SettingsPatch, string> => {
  const problems: Array<string> = []
  if (typeof queue.id !== "string" || !QUEUE_ID.test(queue.id)) {
    problems.push("the ID must be 1 to 100 letters, digits or hyphens")
  }
  const s = queue.settings
  const patch: { -readonly [K in keyof SettingsPatch]: SettingsPatch[K] } = {}
  if (s.maxAttempts !== undefined) {
    if (!isInteger(s.maxAttempts) || (s.maxAttempts < 1 && s.maxAttempts !== -1)) {
      problems.push(`maxAttempts must be a whole number of at least 1, or -1 for no limit, got ${s.maxAttempts}`)
    } else patch.maxAttempts = s.maxAttempts
  }
  if (s.maxDoublings !== undefined) {
    if (!isInteger(s.maxDoublings) || s.maxDoublings < 0) {
      problems.push(`maxDoublings must be a whole number of at least 0, got ${s.maxDoublings}`)
    } else patch.maxDoublings = s.maxDoublings
  }
  if (s.maxDispatchesPerSecond !== undefined) {
    if (!(s.maxDispatchesPerSecond > 0 && s.maxDispatchesPerSecond <= MAX_DISPATCHES_PER_SECOND)) {
      problems.push(
        `maxDispatchesPerSecond must be more than 0 and at most ${MAX_DISPATCHES_PER_SECOND}, got ${s.maxDispatchesPerSecond}`
      )
    } else patch.maxDispatchesPerSecond = s.maxDispatchesPerSecond
  }
  if (s.maxConcurrentDispatches !== undefined) {
    const value = s.maxConcurrentDispatches
    if (!isInteger(value) || value < 1 || value > MAX_CONCURRENT_DISPATCHES) {
      problems.push(`maxConcurrentDispatches must be a whole number from 1 to ${MAX_CONCURRENT_DISPATCHES}, got ${value}`)
    } else patch.maxConcurrentDispatches = value
  }
  const minBackoff = millis("minBackoff", s.minBackoff, problems)
  const maxBackoff = millis("maxBackoff", s.maxBackoff, problems)
  const maxRetryDuration = millis("maxRetryDuration", s.maxRetryDuration, problems)
  if (minBackoff !== undefined) patch.minBackoffMs = minBackoff
  if (maxBackoff !== undefined) patch.maxBackoffMs = maxBackoff
  if (maxRetryDuration !== undefined) patch.maxRetryDurationMs = maxRetryDuration
  if ((minBackoff ?? QUEUE_DEFAULTS.minBackoffMs) > (maxBackoff ?? QUEUE_DEFAULTS.maxBackoffMs)) {
    problems.push("minBackoff must not be longer than maxBackoff (1 hour by default)")
  }
  return problems.length === 0
    ? Either.right(patch)
    : Either.left(`Queue ${JSON.stringify(queue.id)}: ${problems.join("; ")}`)
}

/**
 * Whether the attempt after `retryCount` earlier ones is the last the queue allows:
 * `None` when it depends on time (a `maxRetryDuration` with the attempts used up).
 * Retries stop when every limit set is reached, as Cloud Tasks does.
 */
export const isLastAttempt = (settings: SettingsPatch, retryCount: number): Option.Option<boolean> => {
  const maxAttempts = settings.maxAttempts ?? QUEUE_DEFAULTS.maxAttempts
  const maxRetryDuration = settings.maxRetryDurationMs ?? QUEUE_DEFAULTS.maxRetryDurationMs
  const attemptsUsed = maxAttempts > 0 && retryCount + 1 >= maxAttempts
  if (!attemptsUsed) return maxAttempts > 0 || maxRetryDuration === 0 ? Option.some(false) : Option.none()
  return maxRetryDuration > 0 ? Option.none() : Option.some(true)
}
