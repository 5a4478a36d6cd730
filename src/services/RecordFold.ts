import { fastEventOf } from "../domain/FastEventDecode.ts"
import { foldEvents, type PluginState } from "../domain/PluginState.ts"
import type { LogRecord } from "./EventLog.ts"
import { eventOf } from "./Projector.ts"

/** The records after `afterSeq` folded into `state`, fast: decoded by hand where possible, one map copy in all. */
export const foldRecords = (state: PluginState, records: ReadonlyArray<LogRecord>, afterSeq = 0): PluginState => {
  function* items() {
    for (const record of records) {
      if (record.seq <= afterSeq) continue
      yield { event: fastEventOf(record.type, record.data) ?? eventOf(record), seq: record.seq }
    }
  }
  return foldEvents(state, items())
}
