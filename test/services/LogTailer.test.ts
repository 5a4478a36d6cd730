/**
 * The log tailer on a real log: this process's appends are published when their transaction returns, other
 * processes' (real child processes appending through their own EventLog) after the watch on `events/` reports
 * them; every record once, in seq order, nothing that was there before the subscription.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, PubSub } from "effect"
import { EventLog, type LogRecord } from "../../src/services/EventLog.ts"
import { LedgerConfig } from "../../src/services/LedgerConfig.ts"
import { makeLedgerPaths } from "../../src/services/LedgerPaths.ts"
import { recordsAfter } from "../../src/services/EventLog.ts"
import { LogTailer } from "../../src/services/LogTailer.ts"
import { PathWatch } from "../../src/services/PathWatch.ts"
import { fixturePath, runNode, tempDirScoped } from "../adapters/fixtures/testkit.ts"

const tailerLayer = (codexHome: string) => {
  const paths = makeLedgerPaths({ codexHome, home: codexHome })
  return LogTailer.layer.pipe(
    Layer.provide(EventLog.layer({ ledgerDir: paths.ledgerDir, lockTimeoutMs: 20_000 })),
    Layer.provide(Layer.mergeAll(PathWatch.layer, LedgerConfig.layer(paths)))
  )
}

const append = (ids: ReadonlyArray<string>) =>
  EventLog.use((log) =>
    log.transact(() =>
      Effect.succeed({ append: ids.map((id) => ({ id, ts: new Date().toISOString(), type: "TestAppended", data: { id } })), value: undefined })
    )
  )

/** Takes records from the subscription until `until` holds (fails after 10 s). */
const collect = (subscription: PubSub.Subscription<LogRecord>, seen: Array<LogRecord>, until: () => boolean) =>
  Effect.gen(function*() {
    while (!until()) {
      seen.push(...(yield* PubSub.takeAll(subscription)))
    }
  }).pipe(Effect.timeout("10 seconds"))

describe("LogTailer", () => {
  it.live("given appends of this process then they are published when the transaction returns, in order, once", () =>
    Effect.gen(function*() {
      const home = yield* tempDirScoped
      yield* Effect.gen(function*() {
        yield* append(["before"])
        const tailer = yield* LogTailer
        const subscription = yield* tailer.subscribe
        yield* append(["a", "b"])
        // no waiting for any file event: they are there as soon as transact returned
        assert.deepStrictEqual(PubSub.remainingUnsafe(subscription), Option.some(2))
        yield* append(["c"])
        const got = yield* PubSub.takeAll(subscription)
        assert.deepStrictEqual(got.map((r) => r.id), ["a", "b", "c"])
        assert.deepStrictEqual(got.map((r) => r.seq), [3, 4, 5])
        // a refresh or a file event finds nothing new to publish
        yield* tailer.catchUp
        yield* Effect.sleep("100 millis")
        assert.deepStrictEqual(PubSub.remainingUnsafe(subscription), Option.some(0))
      }).pipe(Effect.provide(tailerLayer(home)))
    }))

  it.live("given other processes appending while this one does too then every record arrives once, in seq order", () =>
    Effect.gen(function*() {
      const home = yield* tempDirScoped
      const ledgerDir = makeLedgerPaths({ codexHome: home, home }).ledgerDir
      yield* Effect.gen(function*() {
        const tailer = yield* LogTailer
        const subscription = yield* tailer.subscribe
        const children = Effect.promise(() =>
          Promise.all([
            runNode(fixturePath("appender.ts"), [ledgerDir, "x", "40"]),
            runNode(fixturePath("appender.ts"), [ledgerDir, "y", "40"])
          ])
        )
        const own = Effect.forEach(Array.from({ length: 20 }, (_, i) => `own-${i}`), (id) => append([id]), { discard: true })
        const [runs] = yield* Effect.all([children, own], { concurrency: 2 })
        for (const run of runs) assert.strictEqual(run.code, 0, run.stderr)
        const seen: Array<LogRecord> = []
        // the last child's records come through the watch on events/, not through any call of ours
        yield* collect(subscription, seen, () => seen.length >= 100)
        assert.strictEqual(seen.length, 100)
        assert.deepStrictEqual(seen.map((r) => r.seq), Array.from({ length: 100 }, (_, i) => i + 2))
        const ids = seen.map((r) => r.id)
        assert.strictEqual(new Set(ids).size, 100)
        for (const prefix of ["x-", "y-", "own-"]) {
          assert.strictEqual(ids.filter((id) => id.startsWith(prefix)).length, prefix === "own-" ? 20 : 40)
        }
        assert.strictEqual(yield* tailer.lastSeq, 101)
      }).pipe(Effect.provide(tailerLayer(home)))
    }), 60_000)

  it("recordsAfter finds the records after a seq, also where the seqs do not start at 1", () => {
    const records = [3, 4, 5, 6].map((seq) => ({ seq }) as LogRecord)
    assert.deepStrictEqual(recordsAfter(records, 4).map((r) => r.seq), [5, 6])
    assert.deepStrictEqual(recordsAfter(records, 0).map((r) => r.seq), [3, 4, 5, 6])
    assert.deepStrictEqual(recordsAfter(records, 6), [])
    const dense = [1, 2, 3].map((seq) => ({ seq }) as LogRecord)
    assert.deepStrictEqual(recordsAfter(dense, 1).map((r) => r.seq), [2, 3])
  })
})
