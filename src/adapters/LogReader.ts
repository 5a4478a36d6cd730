/**
 * Reads the event log without taking the ledger lock and without writing anything: for replays of another
 * process's log. Committed records only (the chain rule of `scan`); a torn tail is left out, as a writer would
 * cut it; a break or a newer format ends the readable part, and the reason is returned.
 */
import { Schema } from "effect"
import * as Path from "node:path"
import { errnoCode, type FsPort } from "./FsPort.ts"
import { EMPTY_HEAD, type LogRecord } from "./LogRecordFormat.ts"
import { scan } from "./LogScan.ts"
import { listSegments, type Segment } from "./LogSegments.ts"

export interface LogReading {
  readonly records: ReadonlyArray<LogRecord>
  /** why the records stop before the end of the files (a chain break, a newer format), if they do */
  readonly stoppedBecause: string | undefined
}

export class LogNotFound extends Schema.TaggedError<LogNotFound>()("LogNotFound", { message: Schema.String }) {}

export const readLogReadOnly = (fs: FsPort, ledgerDir: string): LogReading => {
  const eventsDir = Path.join(ledgerDir, "events")
  let segments: ReadonlyArray<Segment>
  try {
    segments = listSegments(fs, eventsDir)
  } catch (error) {
    if (errnoCode(error) === "ENOENT") throw new LogNotFound({ message: `no event log at ${eventsDir}` })
    throw error
  }
  if (segments.length === 0) throw new LogNotFound({ message: `no event log at ${eventsDir}` })
  const records: Array<LogRecord> = []
  let head = EMPTY_HEAD
  for (const segment of segments) {
    const bytes = fs.readFileSync(segment.path)
    const result = scan(bytes, 0, head, `events/${segment.name}`)
    const first = result.committed[0]
    if (first !== undefined && first.seq !== segment.firstSeq) {
      return { records, stoppedBecause: `segment ${segment.name} starts with seq ${first.seq}` }
    }
    for (const record of result.committed) records.push(record)
    head = result.head
    if (result.stop !== undefined) return { records, stoppedBecause: result.stop }
  }
  return { records, stoppedBecause: undefined }
}
