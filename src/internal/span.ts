import { Effect } from "effect"

/**
 * `f` with each call wrapped in a span called `name`, like `Effect.fn(name)` but
 * without capturing a stack trace per call: these functions run on every enqueue,
 * where that capture was the largest single cost of in-process dispatch.
 */
export const traced = <Args extends ReadonlyArray<any>, A, E, R>(
  name: string,
  f: (...args: Args) => Effect.Effect<A, E, R>
): (...args: Args) => Effect.Effect<A, E, R> =>
(...args) => Effect.withSpan(f(...args), name, { captureStackTrace: false })
