import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"

describe("toolchain", () => {
  it.effect("runs on node >= 22.22 with effect 4", () =>
    Effect.gen(function*() {
      const [major] = process.versions.node.split(".").map(Number)
      assert.isTrue((major ?? 0) >= 22)
      const n = yield* Schema.decodeUnknownEffect(Schema.Number)(1)
      assert.strictEqual(n, 1)
    }))
})
