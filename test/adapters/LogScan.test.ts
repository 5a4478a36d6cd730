/**
 * The chain rule's batches: a command's records are committed only whole (the record without `more` closes its
 * batch), whatever point a write was cut at; logs written before `more` existed read as one batch per record.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  EMPTY_HEAD,
  encodeBatch,
  encodeRecord,
  type Head,
  type NewRecord,
  ZERO_HASH
} from "../../src/adapters/LogRecordFormat.ts"
import { scan } from "../../src/adapters/LogScan.ts"

const rec = (id: string): NewRecord => ({ id, ts: "2026-11-21T00:00:00.000Z", type: "TestAppended", data: { id } })
const genesis = encodeRecord(1, ZERO_HASH, rec("genesis"))
const genesisHead: Head = { seq: 1, h: genesis.record.h }
/** genesis, then a whole batch of `ids` */
const logWithBatch = (ids: ReadonlyArray<string>) => {
  const batch = encodeBatch(genesisHead, ids.map(rec))
  return { bytes: Buffer.concat([genesis.line, batch.bytes]), batch }
}
const lineEnds = (bytes: Buffer): Array<number> => {
  const ends: Array<number> = []
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a) ends.push(i + 1)
  return ends
}

describe("LogScan: batches", () => {
  it("given a whole batch, its records count down `more` and are all committed", () => {
    const { bytes, batch } = logWithBatch(["a", "b", "c"])
    assert.deepStrictEqual(batch.records.map((r) => r.more), [2, 1, undefined])
    const lines = bytes.toString("utf8").trimEnd().split("\n")
    assert.include(lines[1], `"data":{"id":"a"},"more":2,"prev":"`)
    assert.include(lines[2], `"data":{"id":"b"},"more":1,"prev":"`)
    assert.notInclude(lines[3], `"more"`)

    const result = scan(bytes, 0, EMPTY_HEAD, "test")
    assert.deepStrictEqual(result.committed.map((r) => r.id), ["genesis", "a", "b", "c"])
    assert.deepStrictEqual(result.committed.slice(1), batch.records)
    assert.deepStrictEqual(result.head, batch.head)
    assert.strictEqual(result.committedEnd, bytes.length)
    assert.deepStrictEqual([result.skipped, result.tail, result.stop], [[], [], undefined])
  })

  it("given a batch cut at any byte, nothing of it is committed and the tail names it", () => {
    const { bytes } = logWithBatch(["a", "b", "c"])
    const batchStart = genesis.line.length
    for (let cut = batchStart + 1; cut < bytes.length; cut++) {
      const result = scan(bytes.subarray(0, cut), 0, EMPTY_HEAD, "test")
      assert.deepStrictEqual(result.committed.map((r) => r.id), ["genesis"], `cut at ${cut}`)
      assert.strictEqual(result.committedEnd, batchStart, `cut at ${cut}`)
      assert.deepStrictEqual(result.head, genesisHead)
      assert.isUndefined(result.stop)
      assert.deepStrictEqual(result.skipped, [])
      assert.isAbove(result.tail.length, 0, `cut at ${cut}`)
    }
    // cut between two records: the records before the cut are whole, and still not committed
    const afterB = lineEnds(bytes)[2] ?? 0
    const result = scan(bytes.subarray(0, afterB), 0, EMPTY_HEAD, "test")
    assert.deepStrictEqual(result.tail, [`an incomplete batch at bytes ${batchStart}-${afterB}: seq 2-3, whose last record announces 1 more`])
  })

  it("given records without `more` (logs of earlier versions), each is a batch of its own", () => {
    const a = encodeRecord(2, genesisHead.h, rec("a"))
    const b = encodeRecord(3, a.record.h, rec("b"))
    const result = scan(Buffer.concat([genesis.line, a.line, b.line.subarray(0, 10)]), 0, EMPTY_HEAD, "test")
    assert.deepStrictEqual(result.committed.map((r) => r.id), ["genesis", "a"])
    assert.isUndefined(a.record.more)
    assert.deepStrictEqual(result.tail, [`incomplete line (10 bytes, no newline) at byte ${genesis.line.length + a.line.length}`])
  })

  it("given a cut batch that a version without batches appended after, the records are kept as written and reported", () => {
    const { bytes, batch } = logWithBatch(["a", "b", "c"])
    const afterA = lineEnds(bytes)[1] ?? 0
    const a = batch.records[0]
    if (a === undefined) throw new Error("no record")
    const next = encodeRecord(3, a.h, rec("next"))
    const result = scan(Buffer.concat([bytes.subarray(0, afterA), next.line]), 0, EMPTY_HEAD, "test")
    assert.deepStrictEqual(result.committed.map((r) => r.id), ["genesis", "a", "next"])
    assert.deepStrictEqual(result.skipped, [
      `test: seq 2-2 at bytes ${genesis.line.length}-${afterA} are a batch whose last record announces 2 more, ` +
      `but seq 3 chained to it starts another batch; kept as written`
    ])
    assert.deepStrictEqual(result.tail, [])
  })

  it("given garbage inside a batch whose end is missing, all of it is tail and nothing is reported as skipped", () => {
    const { bytes } = logWithBatch(["a", "b", "c"])
    const [, afterA = 0, afterB = 0] = lineEnds(bytes)
    const torn = Buffer.concat([bytes.subarray(0, afterA), Buffer.from("junk\n"), bytes.subarray(afterA, afterB)])
    const result = scan(torn, 0, EMPTY_HEAD, "test")
    assert.deepStrictEqual(result.committed.map((r) => r.id), ["genesis"])
    assert.deepStrictEqual(result.skipped, [])
    assert.strictEqual(result.tail.length, 2)
    assert.match(result.tail[0] ?? "", /^test: skipped bytes \d+-\d+ before seq 3: no hash field at byte \d+$/)
    assert.match(result.tail[1] ?? "", /^an incomplete batch at bytes \d+-\d+: seq 2-3, whose last record announces 1 more$/)

    // and once the batch's last record follows, the same garbage is a skipped fragment of a committed batch
    const whole = Buffer.concat([torn, bytes.subarray(afterB)])
    const closed = scan(whole, 0, EMPTY_HEAD, "test")
    assert.deepStrictEqual(closed.committed.map((r) => r.id), ["genesis", "a", "b", "c"])
    assert.deepStrictEqual(closed.tail, [])
    assert.strictEqual(closed.skipped.length, 1)
  })

  it("given a record ahead of the chain inside a batch, the scan stops read-only and commits none of the batch", () => {
    const { bytes } = logWithBatch(["a", "b", "c"])
    const [, afterA = 0, afterB = 0] = lineEnds(bytes)
    const result = scan(Buffer.concat([bytes.subarray(0, afterA), bytes.subarray(afterB)]), 0, EMPTY_HEAD, "test")
    assert.deepStrictEqual(result.committed.map((r) => r.id), ["genesis"])
    assert.match(result.stop ?? "", /^event log is corrupt at byte \d+ \(seq 2\): record seq 4 at byte \d+ of test follows seq 2, /)
    assert.deepStrictEqual(result.tail, [])
  })
})
