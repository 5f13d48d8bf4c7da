/**
 * The token bucket of a queue's `RateLimits`: up to `maxBurstSize` tokens, refilled
 * continuously at `maxDispatchesPerSecond`; each dispatch takes one token.
 *
 * @internal
 */

/** The burst size Cloud Tasks picks for a rate (output only in the API). */
export const burstSizeFor = (ratePerSecond: number): number =>
  Math.min(100, Math.max(1, Math.ceil(ratePerSecond / 5)))

/** A token bucket on the engine's clock (`now`: milliseconds, never backwards). Starts full. */
export class TokenBucket {
  private tokens: number
  private updatedAt: number

  constructor(private rate: number, private capacity: number, private readonly now: () => number) {
    this.tokens = capacity
    this.updatedAt = now()
  }

  /** Changes rate and capacity, keeping the tokens already earned (up to the new capacity). */
  reconfigure(rate: number, capacity: number): void {
    this.refill()
    this.rate = rate
    this.capacity = capacity
    this.tokens = Math.min(this.tokens, capacity)
  }

  /** Takes one token if there is one. */
  tryTake(): boolean {
    this.refill()
    if (this.tokens >= 1) {
      this.tokens -= 1
      return true
    }
    return false
  }

  /** Milliseconds until the next whole token (Infinity when the rate is 0). */
  msUntilToken(): number {
    this.refill()
    if (this.tokens >= 1) return 0
    if (this.rate <= 0) return Number.POSITIVE_INFINITY
    return ((1 - this.tokens) / this.rate) * 1000
  }

  private refill(): void {
    if (this.rate === Number.POSITIVE_INFINITY) {
      this.tokens = this.capacity
      return
    }
    const now = this.now()
    const elapsed = Math.max(0, now - this.updatedAt) / 1000
    this.updatedAt = now
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.rate)
  }
}
