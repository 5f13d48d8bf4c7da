/**
 * The emulator's {@link Deliver}: each attempt is an HTTP request exactly as the engine built it
 * (header names keep their casing and order on the wire), sent the way the worker and loopback
 * routes send theirs, over keep-alive connection pools that {@link HttpDelivery.close} destroys.
 * The engine enforces the dispatch deadline and calls `abort` when it passes.
 *
 * @internal
 */
import type { Deliver } from "../engine/deliver.js"
import { destroyAgents, makeAgents, sendHttpTask } from "../httpPost.js"

/** HTTP delivery and its connection pools. */
export interface HttpDelivery {
  readonly deliver: Deliver
  /** Closes every pooled connection. */
  readonly close: () => void
}

/** Creates the connection pools and the delivery that uses them. */
export const makeHttpDelivery = (): HttpDelivery => {
  const agents = makeAgents()
  const deliver: Deliver = (request, done) => ({
    abort: sendHttpTask(agents, request, (outcome) =>
      done(outcome._tag === "Response" ? outcome : { _tag: "Failed", message: outcome.message }))
  })
  return { deliver, close: () => destroyAgents(agents) }
}
