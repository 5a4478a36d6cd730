/**
 * `ledger/verify`'s check of the log: every segment read again from disk, the hashes, the chain, the genesis record
 * and the ids checked, and compared with the records the process has (`known`).
 */
import type { FsPort } from "./FsPort.ts"
import { io, listSegments, readRange } from "./LogSegments.ts"
import { EMPTY_HEAD, type LogRecord } from "./LogRecordFormat.ts"
import { scan } from "./LogScan.ts"

export interface VerifyReport {
  readonly ok: boolean
  readonly records: number
  readonly problems: ReadonlyArray<string>
}

/** `readOnly`: why the process refuses appends, reported as a problem too */
export const verifySegments = (fs: FsPort, eventsDir: string, known: ReadonlyArray<LogRecord>, readOnly: string | undefined): VerifyReport => {
  const problems: Array<string> = []
  const found: Array<LogRecord> = []
  let vhead = EMPTY_HEAD
  const segments = io("listing events/", () => listSegments(fs, eventsDir))
  if (segments.length === 0) problems.push("events/ has no segment")
  for (const [i, segment] of segments.entries()) {
    const { bytes } = io(`reading ${segment.name}`, () => readRange(fs, segment.path, 0))
    const result = scan(bytes, 0, vhead, `events/${segment.name}`)
    const first = result.committed[0]
    if (first !== undefined && first.seq !== segment.firstSeq) {
      problems.push(`segment ${segment.name} starts with seq ${first.seq}`)
    }
    for (const record of result.committed) found.push(record)
    problems.push(...result.skipped)
    vhead = result.head
    if (result.stop !== undefined) {
      problems.push(result.stop)
      break
    }
    if (result.tail.length > 0) {
      const where = i === segments.length - 1 ? "torn tail" : "trailing bytes in a sealed segment"
      problems.push(`events/${segment.name}: ${where} of ${bytes.length - result.committedEnd} bytes after seq ${vhead.seq}: ${result.tail.join("; ")}`)
    }
  }
  const genesis = found[0]
  if (genesis !== undefined && genesis.type !== "LogCreated") {
    problems.push(`seq 1 is a ${genesis.type}, not the LogCreated genesis record`)
  }
  const idCounts = new Map<string, number>()
  for (const r of found) idCounts.set(r.id, (idCounts.get(r.id) ?? 0) + 1)
  for (const [id, count] of idCounts) if (count > 1) problems.push(`id ${id} is recorded ${count} times`)
  for (const r of known) {
    const onDisk = found[r.seq - 1]
    if (onDisk === undefined) problems.push(`seq ${r.seq}, known to this process, is no longer committed on disk`)
    else if (onDisk.h !== r.h) problems.push(`seq ${r.seq} on disk differs from the record this process read`)
  }
  if (readOnly !== undefined && !problems.includes(readOnly)) problems.push(readOnly)
  return { ok: problems.length === 0, records: found.length, problems }
}
