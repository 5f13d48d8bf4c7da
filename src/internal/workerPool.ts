/**
 * Runs an effect for every item of a batch with bounded concurrency, the results in the
 * items' order, as a pool of workers: `concurrency` fibers, each taking the next item
 * as soon as it has finished one.
 */
import { Effect, Function } from "effect"

/**
 * `f` for each of `items`, at most `concurrency` at a time (below 1, or NaN, is 1); the results in
 * the order of `items`. `Effect.forEach` with `concurrency` does the same with a yield
 * and an exit kept per item: benchmark B2 (1000 tasks at concurrency 32) measured
 * about 7% more client CPU per task with it than with these workers.
 */
export const forEachPooled = <A, B, R>(
  items: Iterable<A>,
  concurrency: number,
  f: (item: A) => Effect.Effect<B, never, R>
): Effect.Effect<Array<B>, never, R> =>
  Effect.suspend(() => {
    const all = Array.from(items)
    const results = new Array<B>(all.length)
    let next = 0
    const worker = Effect.whileLoop({
      while: () => next < all.length,
      body: () => {
        const index = next++
        return Effect.map(f(all[index]!), (result) => {
          results[index] = result
        })
      },
      step: Function.constVoid
    })
    const workers = Array.from({ length: Math.min(concurrency >= 1 ? concurrency : 1, all.length) }, () => worker)
    return Effect.as(Effect.all(workers, { concurrency: "unbounded", discard: true }), results)
  })
