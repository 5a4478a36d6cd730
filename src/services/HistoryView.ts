/**
 * One log record as the history shows it (`plugin/history`, `plugin/changed`): any event type the domain decodes
 * flows through unchanged, with its plugin and cause; records the domain does not know are left out, except the
 * log's own genesis record.
 */
import { genesisEventType } from "../domain/Events.ts"
import type { HistoryEntryView } from "../domain/PluginViews.ts"
import { pluginIdOf } from "./Engine.ts"
import type { LogRecord } from "./EventLog.ts"
import { eventOf } from "./Projector.ts"

export const historyEntryOf = (record: LogRecord): HistoryEntryView | undefined => {
  const event = eventOf(record)
  if (event === undefined && record.type !== genesisEventType) return undefined
  return {
    seq: record.seq,
    at: record.ts,
    type: record.type,
    pluginId: event === undefined ? null : pluginIdOf(event),
    cause: event !== undefined && "cause" in event && event.cause !== undefined ? event.cause : null,
    data: record.data
  }
}
