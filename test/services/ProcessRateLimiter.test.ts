/**
 * The per-plugin token bucket, conformance case 60 token_bucket: 60 per minute lets 60 calls through at once and
 * refuses the 61st; a limit of 0 is no limiter at all. Virtual time (TestClock) for the refill.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { fullBucket, makeRateLimiter, takeToken } from "../../src/services/ProcessRateLimiter.ts"

describe("ProcessRateLimiter", () => {
  it("takeToken: a full bucket of 60 gives 60 tokens, then says when the next one is there", () => {
    let bucket = fullBucket(60, 0)
    for (let i = 0; i < 60; i++) {
      const taken = takeToken(bucket, 0)
      assert.strictEqual(taken._tag, "Taken", `call ${i + 1}`)
      bucket = taken.bucket
    }
    const refused = takeToken(bucket, 0)
    assert.deepStrictEqual(refused._tag === "Limited" ? refused.retryAfterMs : null, 1000)
    assert.strictEqual(takeToken(bucket, 1000)._tag, "Taken", "one token per second at 60/min")
    assert.strictEqual(takeToken(bucket, 500)._tag, "Limited")
    // a clock that went back refills nothing
    assert.strictEqual(takeToken({ ...bucket, atMs: 5000 }, 0)._tag, "Limited")
  })

  it.effect("per plugin: the 61st call in the same minute is refused with -32001 and retryAfterSeconds; 0 never limits", () =>
    Effect.gen(function*() {
      const limiter = makeRateLimiter()
      for (let i = 0; i < 60; i++) yield* limiter.take("meta", 60)
      const refused = yield* Effect.flip(limiter.take("meta", 60))
      assert.strictEqual(refused.kind, "RateLimited")
      assert.strictEqual(refused.code, -32001)
      assert.strictEqual(refused.retryAfterSeconds, 1)
      assert.deepStrictEqual(refused.data, { retryAfterSeconds: 1, limitedBy: "host", requestsPerMinute: 60 })
      assert.strictEqual(refused.message, "Rate limit exceeded for process plugin `meta`: 60 requests/minute; retry after 1 s")
      // another plugin has its own bucket; a plugin without a limit is never refused
      yield* limiter.take("other", 60)
      for (let i = 0; i < 1000; i++) yield* limiter.take("free", 0)
      yield* TestClock.adjust("1 second")
      yield* limiter.take("meta", 60)
      assert.strictEqual((yield* Effect.flip(limiter.take("meta", 60))).kind, "RateLimited")
      // a changed limit starts a full bucket
      for (let i = 0; i < 3; i++) yield* limiter.take("meta", 3)
      const slow = yield* Effect.flip(limiter.take("meta", 3))
      assert.strictEqual(slow.retryAfterSeconds, 20)
    }))
})
