import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Ref } from "effect"
import { StartupGate, whenStarted } from "../../src/services/StartupGate.ts"

describe("StartupGate", () => {
  it.effect("given no gate then the work runs before whenStarted returns", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make(false)
      yield* whenStarted(Ref.set(ran, true))
      assert.isTrue(yield* Ref.get(ran))
    }))

  it.effect("given a closed gate then the work waits for it to open, and runs once", () =>
    Effect.gen(function*() {
      const gate = yield* StartupGate
      const runs = yield* Ref.make(0)
      yield* whenStarted(Ref.update(runs, (n) => n + 1))
      yield* Effect.yieldNow
      assert.strictEqual(yield* Ref.get(runs), 0)
      yield* gate.open
      yield* gate.open
      // the waiting fiber runs once the gate is open
      const waiter = yield* Effect.forkChild(gate.opened.pipe(Effect.andThen(Effect.yieldNow)))
      yield* Fiber.join(waiter)
      yield* Effect.yieldNow
      assert.strictEqual(yield* Ref.get(runs), 1)
    }).pipe(Effect.provide(Layer.fresh(StartupGate.layer))))
})
