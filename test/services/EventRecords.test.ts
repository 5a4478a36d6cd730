import { assert, describe, it } from "@effect/vitest"
import type { LogRecord } from "../../src/services/EventLog.ts"
import { recordsOfKey } from "../../src/services/EventRecords.ts"

const record = (seq: number, id: string): LogRecord => ({
  seq,
  id,
  ts: "2026-01-02T03:04:05.678Z",
  type: "PluginEnabled",
  data: { pluginId: "alpha@market" },
  prev: "0".repeat(32),
  h: seq.toString(16).padStart(32, "0")
})

const lookupOf = (records: ReadonlyArray<LogRecord>) => {
  const asked: Array<string> = []
  const byId = new Map(records.map((r) => [r.id, r]))
  const recordById = (id: string): LogRecord | undefined => {
    asked.push(id)
    return byId.get(id)
  }
  return { asked, recordById }
}

describe("recordsOfKey", () => {
  it("given a key whose command appended three events, when looked up, then those three in order, by id", () => {
    const log = [record(1, "genesis"), record(2, "k:0"), record(3, "other:0"), record(4, "k:1"), record(5, "k:2")]
    const { asked, recordById } = lookupOf(log)
    assert.deepStrictEqual(recordsOfKey(recordById, "k").map((r) => r.seq), [2, 4, 5])
    // each of the key's ids and the first missing one: never a scan of the log
    assert.deepStrictEqual(asked, ["k:0", "k:1", "k:2", "k:3"])
  })

  it("given ids that only share a prefix with the key, when looked up, then none of them", () => {
    const log = [record(2, "k2:0"), record(3, "k:x"), record(4, "repair:k:0"), record(5, "k")]
    assert.deepStrictEqual(recordsOfKey(lookupOf(log).recordById, "k"), [])
  })

  it("given a key never used, when looked up, then nothing after one lookup", () => {
    const { asked, recordById } = lookupOf([record(2, "a:0")])
    assert.deepStrictEqual(recordsOfKey(recordById, "fresh"), [])
    assert.deepStrictEqual(asked, ["fresh:0"])
  })
})
