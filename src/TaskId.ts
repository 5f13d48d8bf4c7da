/**
 * Deriving Cloud Tasks task IDs from business keys.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"

/**
 * A task ID derived from a business key (an order number, an upload ID …), for
 * `EnqueueOptions.taskId`: the same key always gives the same ID, so a second
 * enqueue of the same work within Cloud Tasks' dedup window fails with
 * `reason: "already_exists"` instead of running twice.
 *
 * The ID starts with a hash of the key, as Cloud Tasks advises (sequential IDs
 * such as timestamps or counters raise latency), followed by the key's letters,
 * digits, `-` and `_` for readability. Different keys give different IDs.
 *
 * @example
 * ```ts
 * yield* enqueueHttpTask("/api/tasks/transcribe", payload, { taskId: taskIdFromKey(`upload:${uploadId}`) })
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const taskIdFromKey = (key: string): string => {
  const hash = createHash("sha256").update(key, "utf8").digest("hex").slice(0, 16)
  const readable = key.replace(/[^A-Za-z0-9_-]+/g, "_").slice(0, 100)
  return readable === "" ? hash : `${hash}-${readable}`
}
