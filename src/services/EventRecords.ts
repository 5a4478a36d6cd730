import { Result, Schema } from "effect"
import { PluginEvent } from "../domain/Events.ts"
import { fastEventOf } from "../domain/FastEventDecode.ts"
import type { LogRecord, NewRecord } from "./EventLog.ts"

const encodeEvent = Schema.encodeSync(PluginEvent)
const decodeEvent = Schema.decodeUnknownResult(PluginEvent)

/** A domain event as a log record: its tag is the record type, the rest its data. */
export const newRecordOf = (event: PluginEvent, id: string, ts: string): NewRecord => {
  const { _tag, ...data } = encodeEvent(event)
  return { id, ts, type: _tag, data }
}

/** Decodes a record's payload as a plugin event; records of other types (genesis) yield undefined. */
export const eventOf = (record: LogRecord): PluginEvent | undefined => {
  if (typeof record.data !== "object" || record.data === null) return undefined
  const decoded = decodeEvent({ ...record.data, _tag: record.type })
  return Result.isSuccess(decoded) ? decoded.success : undefined
}

/** The `pluginId` a record's payload names (unchecked: compared, never trusted), or undefined. */
export const recordPluginId = (record: LogRecord): unknown =>
  typeof record.data === "object" && record.data !== null ? Reflect.get(record.data, "pluginId") : undefined

/**
 * `eventOf` through the hand check of the common events first (`fastEventOf`): the same fields, as plain objects
 * rather than class instances, for code that reads events (folds, projections, history entries), never encodes them.
 */
export const readEventOf = (record: LogRecord): PluginEvent | undefined =>
  fastEventOf(record.type, record.data) ?? eventOf(record)

/**
 * The records a command with idempotency key `key` appended: `<key>:0`, `<key>:1`, ... A command appends its events
 * in one batch, numbered from 0 (`<key>:<index>`), so they are looked up one id at a time until the first missing
 * one, never by scanning the log for the prefix.
 */
export const recordsOfKey = (recordById: (id: string) => LogRecord | undefined, key: string): ReadonlyArray<LogRecord> => {
  const found: Array<LogRecord> = []
  for (let index = 0; ; index++) {
    const record = recordById(`${key}:${index}`)
    if (record === undefined) return found
    found.push(record)
  }
}
