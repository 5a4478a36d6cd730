import { foldEvents, type PluginState } from "../domain/PluginState.ts"
import { indexAfter, type LogRecord } from "./EventLog.ts"
import { readEventOf } from "./EventRecords.ts"

/**
 * The records after `afterSeq` folded into `state`, fast: decoded by hand where possible, one map copy in all.
 * The records before are not visited: a command folds the log's few new records several times, and stepping
 * over all the old ones cost O(log size) of time and iterator garbage each time.
 */
export const foldRecords = (state: PluginState, records: ReadonlyArray<LogRecord>, afterSeq = 0): PluginState => {
  const from = indexAfter(records, afterSeq)
  // nothing new (a command folds the log it was just given again): the state as it is, no copy of its map
  if (from >= records.length) return state
  function* items() {
    for (let i = from; i < records.length; i++) {
      const record = records[i]
      if (record === undefined) continue
      yield { event: readEventOf(record), seq: record.seq }
    }
  }
  return foldEvents(state, items())
}
