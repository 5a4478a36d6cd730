/**
 * A place in the event log taken without opening it: the newest segment and how many bytes it held. `serve`
 * takes one as it answers `initialize` before the engine is loaded; once the log is open, the mark says which
 * records came after that answer, so the client is notified of every one of them (another process may append
 * in between). Plain `node:fs`, no Effect dependency.
 */
import * as fs from "node:fs"
import * as Path from "node:path"
import { segmentFirstSeq } from "./SegmentName.ts"

export interface LogMark {
  /** the newest segment's file name; absent when the log had no segment yet */
  readonly segment?: string
  /** its size in bytes at the mark */
  readonly size: number
}

const eventsDir = (ledgerDir: string) => Path.join(ledgerDir, "events")

/** The log's end as it is on disk now. Never fails: an unreadable log marks its start (every record is news). */
export const takeLogMark = (ledgerDir: string): LogMark => {
  try {
    let newest: { readonly name: string; readonly firstSeq: number } | undefined
    for (const name of fs.readdirSync(eventsDir(ledgerDir))) {
      const firstSeq = segmentFirstSeq(name)
      if (firstSeq !== undefined && (newest === undefined || firstSeq > newest.firstSeq)) newest = { name, firstSeq }
    }
    if (newest === undefined) return { size: 0 }
    return { segment: newest.name, size: fs.statSync(Path.join(eventsDir(ledgerDir), newest.name)).size }
  } catch {
    return { size: 0 }
  }
}

/**
 * The seq of the last record wholly inside the mark: the segment's first seq - 1 plus the lines it held (one
 * record per line; a torn line is no record). 0 when the mark has no segment or the segment is gone.
 */
export const seqAtLogMark = (ledgerDir: string, mark: LogMark): number => {
  const firstSeq = mark.segment === undefined ? undefined : segmentFirstSeq(mark.segment)
  if (mark.segment === undefined || firstSeq === undefined || mark.size === 0) return 0
  let fd: number
  try {
    fd = fs.openSync(Path.join(eventsDir(ledgerDir), mark.segment), "r")
  } catch {
    return 0
  }
  try {
    const chunk = Buffer.allocUnsafe(1 << 16)
    let lines = 0
    for (let position = 0; position < mark.size;) {
      const read = fs.readSync(fd, chunk, 0, Math.min(chunk.length, mark.size - position), position)
      if (read === 0) break
      for (let at = chunk.indexOf(0x0a); at >= 0 && at < read; at = chunk.indexOf(0x0a, at + 1)) lines++
      position += read
    }
    return firstSeq - 1 + lines
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * `seq` and `h` of the last record in the newest segment as it is now, read from its last line; undefined when the
 * log has no segment, the segment does not end with a whole line (a torn tail), or the line is not a record. The
 * chain is not checked: the engine does that when it opens the log.
 */
export const lastRecord = (ledgerDir: string): { readonly seq: number; readonly h: string } | undefined => {
  const mark = takeLogMark(ledgerDir)
  if (mark.segment === undefined || mark.size === 0) return undefined
  let fd: number
  try {
    fd = fs.openSync(Path.join(eventsDir(ledgerDir), mark.segment), "r")
  } catch {
    return undefined
  }
  try {
    // a record is at most 1 MiB; a last line longer than this tail is left to the engine
    const length = Math.min(mark.size, 1 << 16)
    const tail = Buffer.allocUnsafe(length)
    const read = fs.readSync(fd, tail, 0, length, mark.size - length)
    if (read !== length || tail[length - 1] !== 0x0a) return undefined
    const start = tail.lastIndexOf(0x0a, length - 2) + 1
    if (start === 0 && length < mark.size) return undefined
    const record: unknown = JSON.parse(tail.subarray(start, length - 1).toString("utf8"))
    if (typeof record !== "object" || record === null) return undefined
    const seq = Reflect.get(record, "seq")
    const h = Reflect.get(record, "h")
    return typeof seq === "number" && typeof h === "string" ? { seq, h } : undefined
  } catch {
    return undefined
  } finally {
    fs.closeSync(fd)
  }
}
