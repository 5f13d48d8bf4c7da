/**
 * Shared helpers of the Cloud Tasks emulator tests: unique queue names, queues with fast retry
 * settings, and assertions on gRPC errors as the official client reports them.
 */
import type { CloudTasksClient } from "@google-cloud/tasks"
import { expect } from "vitest"
import { apiErrorOf } from "./emulatorClient.js"

/** The queue-name parent used by the tests. */
export const LOCATION = "projects/test-project/locations/us-central1"

let counter = 0

/** A queue name no other test uses. */
export const uniqueQueueName = (label = "q"): string => `${LOCATION}/queues/${label}-${process.pid}-${++counter}`

/** Retry settings that keep tests fast: 20 ms, 40 ms, 80 ms, … up to 200 ms, 5 attempts. */
export const FAST_RETRY = {
  maxAttempts: 5,
  minBackoff: { seconds: 0, nanos: 20_000_000 },
  maxBackoff: { seconds: 0, nanos: 200_000_000 },
  maxDoublings: 3
} as const

type QueueInput = NonNullable<Parameters<CloudTasksClient["createQueue"]>[0]>["queue"]

/** Creates a queue (fast retries unless `queue` says otherwise) and returns its name. */
export const createQueue = async (
  client: CloudTasksClient,
  name: string = uniqueQueueName(),
  queue: QueueInput = {}
): Promise<string> => {
  await client.createQueue({ parent: LOCATION, queue: { name, retryConfig: FAST_RETRY, ...queue } })
  return name
}

/**
 * Asserts that `promise` fails with the status `code` and exactly the message `details`, as the
 * official client reports them in the mode of the run (gRPC or REST).
 */
export const expectGrpcError = async (promise: Promise<unknown>, code: number, details: string): Promise<void> => {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e
  )
  expect(error, `expected API error ${code} "${details}"`).toBeDefined()
  expect(apiErrorOf(error)).toEqual({ code, message: details })
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
