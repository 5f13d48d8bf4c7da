/**
 * Cloud Tasks' retry delay, as its documentation states it: the delay before retry `k`
 * (1 for the first retry) starts at `minBackoff`, doubles `maxDoublings` times, then
 * grows by the last doubled interval each retry, and never exceeds `maxBackoff` (all in
 * milliseconds). The in-process queue's tests and the emulator's check against it.
 */
export const modelDelay = (minBackoff: number, maxBackoff: number, maxDoublings: number, k: number): number => {
  let interval = minBackoff
  for (let i = 1; i < k; i++) interval = i <= maxDoublings ? interval * 2 : interval + minBackoff * 2 ** maxDoublings
  return Math.min(interval, maxBackoff)
}
