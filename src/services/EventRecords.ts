import { Schema } from "effect"
import { PluginEvent } from "../domain/Events.ts"
import type { NewRecord } from "./EventLog.ts"

const encodeEvent = Schema.encodeSync(PluginEvent)

/** A domain event as a log record: its tag is the record type, the rest its data. */
export const newRecordOf = (event: PluginEvent, id: string, ts: string): NewRecord => {
  const { _tag, ...data } = encodeEvent(event)
  return { id, ts, type: _tag, data }
}
