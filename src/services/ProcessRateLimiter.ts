/**
 * The per-plugin rate limit on host->plugin calls: a token bucket per plugin (shared by all its users' processes),
 * `perMinute` tokens of capacity refilled at `perMinute` per 60 s, so a burst of `perMinute` calls passes at once and
 * later calls pass at the refill rate. A call over the limit is refused before it reaches the plugin, with a -32001
 * error carrying `retryAfterSeconds`, the same shape a plugin's own rate-limit error has.
 */
import { Clock, Effect } from "effect"
import { ErrorCodes, ProcessCallError } from "../domain/ProcessProtocol.ts"

export interface TokenBucket {
  readonly perMinute: number
  readonly tokens: number
  readonly atMs: number
}

export type TakeResult =
  | { readonly _tag: "Taken"; readonly bucket: TokenBucket }
  | { readonly _tag: "Limited"; readonly bucket: TokenBucket; readonly retryAfterMs: number }

export const fullBucket = (perMinute: number, nowMs: number): TokenBucket => ({ perMinute, tokens: perMinute, atMs: nowMs })

/**
 * Takes one token from the bucket refilled up to `nowMs`, or says how long until one is there. Pure; `perMinute`
 * must be > 0 (0 means no limiter at all). A clock that went back refills nothing.
 */
export const takeToken = (bucket: TokenBucket, nowMs: number): TakeResult => {
  const elapsed = Math.max(0, nowMs - bucket.atMs)
  const tokens = Math.min(bucket.perMinute, bucket.tokens + (elapsed * bucket.perMinute) / 60_000)
  const current = { ...bucket, tokens, atMs: Math.max(nowMs, bucket.atMs) }
  if (tokens >= 1) return { _tag: "Taken", bucket: { ...current, tokens: tokens - 1 } }
  return { _tag: "Limited", bucket: current, retryAfterMs: Math.ceil(((1 - tokens) * 60_000) / bucket.perMinute) }
}

export const rateLimitedError = (plugin: string, perMinute: number, retryAfterMs: number): ProcessCallError => {
  const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000))
  return new ProcessCallError({
    kind: "RateLimited",
    code: ErrorCodes.rateLimited,
    message: `Rate limit exceeded for process plugin \`${plugin}\`: ${perMinute} requests/minute; retry after ${retryAfterSeconds} s`,
    data: { retryAfterSeconds, limitedBy: "host", requestsPerMinute: perMinute },
    retryAfterSeconds
  })
}

export const makeRateLimiter = () => {
  const buckets = new Map<string, TokenBucket>()
  /** One call of `plugin` at `perMinute` (0: unlimited); a changed limit starts a full bucket. */
  const take = (plugin: string, perMinute: number): Effect.Effect<void, ProcessCallError> =>
    perMinute <= 0
      ? Effect.sync(() => void buckets.delete(plugin))
      : Effect.flatMap(Clock.currentTimeMillis, (nowMs) => {
        const previous = buckets.get(plugin)
        const bucket = previous === undefined || previous.perMinute !== perMinute ? fullBucket(perMinute, nowMs) : previous
        const taken = takeToken(bucket, nowMs)
        buckets.set(plugin, taken.bucket)
        return taken._tag === "Taken" ? Effect.void : Effect.fail(rateLimitedError(plugin, perMinute, taken.retryAfterMs))
      })
  /** A removed plugin's bucket is forgotten (a plugin added again under its name starts full). */
  const forget = (plugin: string) => Effect.sync(() => void buckets.delete(plugin))
  return { take, forget }
}
export type ProcessRateLimiter = ReturnType<typeof makeRateLimiter>
