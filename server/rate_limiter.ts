/**
 * A token bucket with a flood detector: frames within the rate pass; frames past it are refused
 * (the caller answers `rate_limited`); too many refusals within a window mean the peer is not
 * slowing down, and the caller closes it (`flood`).
 *
 * @module
 */

/** What to do with one frame. */
export type RateDecision = "accept" | "refuse" | "flood";

/** Options of a {@linkcode RateLimiter}. */
export interface RateLimiterOptions {
  ratePerSecond: number;
  burst: number;
  floodMaxRefused: number;
  floodWindowMs: number;
}

/** One session's rate state. */
export class RateLimiter {
  #tokens: number;
  #updatedAt: number;
  #refusedInWindow = 0;
  #windowStart = 0;

  constructor(private readonly options: RateLimiterOptions, now = performance.now()) {
    this.#tokens = options.burst;
    this.#updatedAt = now;
  }

  /** Takes one token for a frame arriving at `now` (milliseconds, monotonic). */
  take(now = performance.now()): RateDecision {
    const { ratePerSecond, burst } = this.options;
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#updatedAt) * ratePerSecond) / 1000);
    this.#updatedAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return "accept";
    }
    if (now - this.#windowStart > this.options.floodWindowMs) {
      this.#windowStart = now;
      this.#refusedInWindow = 0;
    }
    this.#refusedInWindow += 1;
    return this.#refusedInWindow > this.options.floodMaxRefused ? "flood" : "refuse";
  }
}
