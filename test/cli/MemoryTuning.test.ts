/**
 * The memory tuning of `serve` and `daemon`: the memory-reducing collection really returns freed heap pages to the
 * system (a plain collection keeps them in V8's pool), and the channel wrapper reports every line read and written.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { releaseFreeHeapPages, reportingActivity } from "../../src/cli/MemoryTuning.ts"
import type { LineChannel } from "../../src/rpc/JsonRpcPeer.ts"

const MB = 1024 * 1024

describe("releaseFreeHeapPages", () => {
  it("gives the pages of freed objects back to the system", () => {
    // ~80 MB of objects that live long enough to reach the old generation, then become garbage
    let kept: Array<{ readonly n: number; readonly text: string }> | undefined = []
    for (let n = 0; n < 800_000; n++) kept.push({ n, text: `entry ${n}` })
    const whileKept = process.memoryUsage.rss()
    assert.isAbove(kept.length, 0)
    kept = undefined
    releaseFreeHeapPages()
    const released = process.memoryUsage.rss()
    assert.isBelow(released, whileKept - 30 * MB, `RSS ${whileKept / MB | 0} MB -> ${released / MB | 0} MB`)
  })
})

describe("reportingActivity", () => {
  it.effect("calls busy for every batch of lines read and every line written", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      const channel: LineChannel = {
        // two batches, as two reads of the input would give them
        lines: Stream.make("a", "b").pipe(Stream.concat(Stream.make("c"))),
        write: (line) => Effect.sync(() => void written.push(line))
      }
      let busy = 0
      const reporting = reportingActivity(channel, () => void busy++)
      const read = yield* Stream.runCollect(reporting.lines)
      assert.deepStrictEqual(Array.from(read), ["a", "b", "c"])
      assert.strictEqual(busy, 2)
      yield* reporting.write("x")
      yield* reporting.write("y")
      assert.deepStrictEqual(written, ["x", "y"])
      assert.strictEqual(busy, 4)
    }))
})
