/**
 * Where a replay (and `capabilities --at`) stops: a prefix of the log that never ends inside the records of one
 * command, which were committed together (their batch's `more` counts the records after each).
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { encodeBatch, EMPTY_HEAD, type LogRecord, type NewRecord } from "../../src/adapters/LogRecordFormat.ts"
import { recordsUntil } from "../../src/services/Replay.ts"

const rec = (id: string, ts: string): NewRecord => ({ id, ts, type: "TestAppended", data: { id } })
/** seq 1 alone at 10:00, seq 2-4 one command stamped 10:01 to 10:03 (as a clock that ticks while it is recorded), seq 5 alone at 10:05 */
const log = (): ReadonlyArray<LogRecord> => {
  const first = encodeBatch(EMPTY_HEAD, [rec("a", "2026-11-21T10:00:00.000Z")])
  const command = encodeBatch(first.head, [
    rec("cmd:0", "2026-11-21T10:01:00.000Z"),
    rec("cmd:1", "2026-11-21T10:02:00.000Z"),
    rec("cmd:2", "2026-11-21T10:03:00.000Z")
  ])
  const last = encodeBatch(command.head, [rec("b", "2026-11-21T10:05:00.000Z")])
  return [...first.records, ...command.records, ...last.records]
}
const seqsOf = (result: Result.Result<ReadonlyArray<LogRecord>, string>) =>
  Result.isSuccess(result) ? result.success.map((r) => r.seq) : result.failure

describe("recordsUntil", () => {
  it("given a seq at a command's end or a record of its own, the prefix ends there", () => {
    assert.deepStrictEqual(seqsOf(recordsUntil(log(), { _tag: "Seq", seq: 1 }, undefined)), [1])
    assert.deepStrictEqual(seqsOf(recordsUntil(log(), { _tag: "Seq", seq: 4 }, undefined)), [1, 2, 3, 4])
    assert.deepStrictEqual(seqsOf(recordsUntil(log(), { _tag: "Seq", seq: 5 }, undefined)), [1, 2, 3, 4, 5])
  })

  it("given a seq inside a command's records, it is refused, naming the points on either side", () => {
    for (const seq of [2, 3]) {
      assert.deepStrictEqual(
        seqsOf(recordsUntil(log(), { _tag: "Seq", seq }, undefined)),
        `seq ${seq} is inside the records of one command (seq 2-4), which were committed together; use seq 1 or seq 4`
      )
    }
  })

  it("given a time that falls among a command's records, the whole command is left out", () => {
    for (const time of ["2026-11-21T10:01:00.000Z", "2026-11-21T10:02:30.000Z"]) {
      assert.deepStrictEqual(seqsOf(recordsUntil(log(), { _tag: "Time", time }, undefined)), [1], time)
    }
    assert.deepStrictEqual(seqsOf(recordsUntil(log(), { _tag: "Time", time: "2026-11-21T10:03:00.000Z" }, undefined)), [1, 2, 3, 4])
    assert.deepStrictEqual(seqsOf(recordsUntil(log(), { _tag: "Time", time: "2026-11-21T10:04:00.000Z" }, undefined)), [1, 2, 3, 4])
  })

  it("given a log whose first record is a command straddling the time, there is nothing at or before it", () => {
    const command = encodeBatch(EMPTY_HEAD, [rec("c:0", "2026-11-21T10:00:00.000Z"), rec("c:1", "2026-11-21T10:01:00.000Z")])
    const result = recordsUntil(command.records, { _tag: "Time", time: "2026-11-21T10:00:30.000Z" }, undefined)
    assert.include(seqsOf(result), "the log has no records at or before 2026-11-21T10:00:30.000Z")
  })
})
