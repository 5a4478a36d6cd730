/**
 * The segment files of the event log under `events/` (`<first seq>.jsonl`, SegmentName.ts): listed in seq order and
 * read from an offset, with file-system errors reported as the log's own.
 */
import * as Path from "node:path"
import type { FileIdentity } from "./ActiveSegment.ts"
import { closeQuietly } from "./AtomicFile.ts"
import { describeError, errnoCode, type FsPort } from "./FsPort.ts"
import { LogFileError } from "./LogRecordFormat.ts"
import { segmentFirstSeq } from "./SegmentName.ts"

export interface Segment {
  readonly firstSeq: number
  readonly name: string
  readonly path: string
}

export const listSegments = (fs: FsPort, eventsDir: string): ReadonlyArray<Segment> =>
  fs.readdirSync(eventsDir)
    .flatMap((name) => {
      const firstSeq = segmentFirstSeq(name)
      return firstSeq === undefined ? [] : [{ firstSeq, name, path: Path.join(eventsDir, name) }]
    })
    .sort((a, b) => a.firstSeq - b.firstSeq)

export const readRange = (fs: FsPort, path: string, from: number): { readonly bytes: Buffer; readonly size: number; readonly identity: FileIdentity } => {
  const fd = fs.openSync(path, "r")
  try {
    const stats = fs.fstatSync(fd)
    const size = stats.size
    const bytes = Buffer.alloc(Math.max(0, size - from))
    let done = 0
    while (done < bytes.length) {
      const n = fs.readSync(fd, bytes, done, bytes.length - done, from + done)
      if (n === 0) break
      done += n
    }
    return { bytes: bytes.subarray(0, done), size, identity: { dev: stats.dev, ino: stats.ino } }
  } finally {
    closeQuietly(fs, fd)
  }
}

/** Rethrow file-system errors (those with an errno code) as LogFileError "Io"; bugs stay defects. */
export const io = <A>(what: string, f: () => A): A => {
  try {
    return f()
  } catch (error) {
    if (error instanceof LogFileError || errnoCode(error) === undefined) throw error
    throw new LogFileError({ reason: "Io", message: `event log: ${what}: ${describeError(error)}` })
  }
}
