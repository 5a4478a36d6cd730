/**
 * The workload of the crash and contention suites: writers append commands of 1..n records to a few shared
 * streams. Each record carries its stream and stream version (`sv`), computed by `decide` from the caught-up
 * log, so a writer that ever decided on a stale view would leave a duplicate or a gap in some stream.
 */
import * as NodeFs from "node:fs"
import * as Path from "node:path"
import type { LogRecord, NewRecord } from "../../src/services/EventLog.ts"

export const STREAMS: ReadonlyArray<string> = ["alpha@market", "beta@market", "gamma@market"]
export const STREAM_EVENT = "StreamAppended"

/** One command: the ids are its idempotency keys (`<writer>-<n>`). */
export interface StreamCommand {
  readonly writer: string
  readonly items: ReadonlyArray<{ readonly id: string; readonly stream: string; readonly n: number }>
}

interface StreamData {
  readonly writer: string
  readonly n: number
  readonly stream: string
  readonly sv: number
}

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const streamDataOf = (record: LogRecord): StreamData | undefined => {
  const data = record.data
  if (record.type !== STREAM_EVENT || !isRecord(data)) return undefined
  const { n, stream, sv, writer } = data
  if (typeof writer !== "string" || typeof n !== "number" || typeof stream !== "string" || typeof sv !== "number") return undefined
  return { writer, n, stream, sv }
}

/** The records `command` appends on top of `records`: each item gets the next version of its stream. */
export const streamRecords = (command: StreamCommand, records: ReadonlyArray<LogRecord>, ts: string): ReadonlyArray<NewRecord> => {
  const versions = new Map<string, number>()
  for (const record of records) {
    const data = streamDataOf(record)
    if (data !== undefined) versions.set(data.stream, Math.max(versions.get(data.stream) ?? 0, data.sv))
  }
  return command.items.map((item) => {
    const sv = (versions.get(item.stream) ?? 0) + 1
    versions.set(item.stream, sv)
    return { id: item.id, ts, type: STREAM_EVENT, data: { writer: command.writer, n: item.n, stream: item.stream, sv } }
  })
}

/**
 * Every problem of a log written by this workload: seq not 1..n, a broken prev chain, duplicate ids, a record
 * whose content does not match its id, a stream whose versions are not 1..k in log order. Empty when sound.
 */
export const streamLogProblems = (records: ReadonlyArray<LogRecord>): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const ids = new Set<string>()
  const versions = new Map<string, number>()
  records.forEach((record, index) => {
    if (record.seq !== index + 1) problems.push(`record ${index} has seq ${record.seq}`)
    const prev = index === 0 ? "0".repeat(32) : records[index - 1]?.h
    if (record.prev !== prev) problems.push(`seq ${record.seq}: prev does not chain`)
    if (ids.has(record.id)) problems.push(`id ${record.id} is recorded twice`)
    ids.add(record.id)
    if (record.type !== STREAM_EVENT) return
    const data = streamDataOf(record)
    if (data === undefined) {
      problems.push(`seq ${record.seq}: malformed ${STREAM_EVENT} data`)
      return
    }
    if (record.id !== `${data.writer}-${data.n}`) problems.push(`seq ${record.seq}: id ${record.id} carries ${data.writer}-${data.n}`)
    const expected = (versions.get(data.stream) ?? 0) + 1
    if (data.sv !== expected) problems.push(`stream ${data.stream}: seq ${record.seq} has sv ${data.sv}, expected ${expected}`)
    versions.set(data.stream, data.sv)
  })
  return problems
}

/** The pid recorded in a ledger dir's lock file, if a lock is there. */
export const lockHolderPid = (dir: string): number | undefined => {
  try {
    const pid: unknown = JSON.parse(NodeFs.readFileSync(Path.join(dir, "lock"), "utf8")).pid
    return typeof pid === "number" ? pid : undefined
  } catch {
    return undefined
  }
}
