/**
 * The blob pack file: blobs appended one after another to a file written by one process only
 * (`blobs/packs/<pid>-<12 hex>.pack`). Its first line names the format; each record is a header line
 * `sha256 <64 hex> <size>\n`, the blob's `size` bytes, and a newline. A pack is only ever appended to, so a crash can
 * leave at most a torn last record: `scanPack` stops at the first record that is not whole (a short header or body
 * at the end of the file: maybe still being written) or not well formed (never valid: the scan of that pack ends
 * there for good). Bodies are not hashed here; whoever hands a blob out checks its hash (`BlobStore.get`).
 */
import { closeQuietly, pidSuffix } from "./AtomicFile.ts"
import type { FsPort } from "./FsPort.ts"

export const PACK_MAGIC: Buffer = Buffer.from("plugin-ledger blob pack 1\n", "latin1")

const PACK_NAME = /^(\d+)-[0-9a-f]{12}\.pack$/
/** `sha256 <hash> <size>`: at most 7 + 64 + 1 + 16 bytes (sizes stay below 2^53), then its newline */
const HEADER = /^sha256 ([0-9a-f]{64}) (0|[1-9][0-9]{0,15})$/
const MAX_HEADER = 96
const NEWLINE = 0x0a
/**
 * What a scan reads at once: from `MIN_WINDOW` after a jump over a body (the next header and what follows it), doubling
 * up to `MAX_WINDOW` while reads follow one another (runs of small records). So a pack of big blobs costs a small read
 * per record, not its bodies: reading whole chunks read every body smaller than a chunk, all the blobs of a ledger
 * (87 MB for 300 installs of a 300 KB plugin) in every process that looked a blob up.
 */
const MIN_WINDOW = 16 * 1024
const MAX_WINDOW = 1 << 20

/** A new pack's name: `<pid>-<12 hex>.pack`, so a reader can tell whether its writer is alive. */
export const newPackName = (): string => `${pidSuffix()}.pack`

/** The pid that writes pack `name`, or undefined when `name` is not a pack. */
export const packWriter = (name: string): number | undefined => {
  const match = PACK_NAME.exec(name)
  return match === null ? undefined : Number(match[1])
}

/** The bytes of one record: header, body, newline. */
export const encodeRecord = (hash: string, bytes: Uint8Array): ReadonlyArray<Uint8Array> =>
  [Buffer.from(`sha256 ${hash} ${bytes.length}\n`, "latin1"), bytes, Buffer.of(NEWLINE)]

/** Where a record's body is: `at` is the start of its header, `offset` of its body. */
export interface PackRecord {
  readonly hash: string
  readonly at: number
  readonly offset: number
  readonly size: number
}

export interface PackScan {
  readonly records: ReadonlyArray<PackRecord>
  /** where the next scan starts: after the last whole record */
  readonly next: number
  /** the file's size when it was scanned */
  readonly size: number
  /** `bad`: the bytes at `next` are no record and never will be; `short`: a record not (yet) whole ends the file */
  readonly stop: "end" | "short" | "bad"
}

/** Reads from `fd` at `position` until `buffer` is full or the file ends; returns the bytes read. */
const readAt = (fs: FsPort, fd: number, buffer: Uint8Array, position: number): number => {
  let done = 0
  while (done < buffer.length) {
    const n = fs.readSync(fd, buffer, done, buffer.length - done, position + done)
    if (n === 0) break
    done += n
  }
  return done
}

/**
 * The records of pack `path` from byte `from` (0, or a `next` of an earlier scan) up to `limit`, reading windows
 * (`MIN_WINDOW`..`MAX_WINDOW`) and jumping over bodies that do not fit in one.
 */
export const scanPack = (fs: FsPort, path: string, from: number, limit: number): PackScan => {
  const fd = fs.openSync(path, "r")
  try {
    const size = fs.fstatSync(fd).size
    const end = Math.min(size, limit)
    let chunk: Buffer = Buffer.alloc(0)
    let chunkAt = 0
    let window = MIN_WINDOW
    /** up to `want` bytes at `at` (fewer at the end), from the last chunk read or a new one */
    const bytesAt = (at: number, want: number): Buffer => {
      if (at < chunkAt || at + want > chunkAt + chunk.length) {
        const following = at >= chunkAt && at <= chunkAt + chunk.length
        window = following ? Math.min(window * 2, MAX_WINDOW) : MIN_WINDOW
        const buffer = Buffer.allocUnsafe(Math.max(0, Math.min(Math.max(want, window), end - at)))
        chunk = buffer.subarray(0, readAt(fs, fd, buffer, at))
        chunkAt = at
      }
      return chunk.subarray(at - chunkAt, Math.min(chunk.length, at - chunkAt + want))
    }
    const records: Array<PackRecord> = []
    const done = (next: number, stop: PackScan["stop"]): PackScan => ({ records, next, size, stop })
    let pos = from
    if (pos === 0) {
      const magic = bytesAt(0, PACK_MAGIC.length)
      if (!magic.equals(PACK_MAGIC.subarray(0, magic.length))) return done(0, "bad")
      if (magic.length < PACK_MAGIC.length) return done(0, "short")
      pos = PACK_MAGIC.length
    }
    while (pos < end) {
      const line = bytesAt(pos, MAX_HEADER)
      const newline = line.indexOf(NEWLINE)
      // no newline in what is left of the file: maybe a header still being written; in MAX_HEADER bytes: no header
      if (newline === -1) return done(pos, line.length < MAX_HEADER ? "short" : "bad")
      const header = HEADER.exec(line.toString("latin1", 0, newline))
      if (header === null) return done(pos, "bad")
      const offset = pos + newline + 1
      const next = offset + Number(header[2]) + 1
      if (next > end) return done(pos, "short")
      if (bytesAt(next - 1, 1)[0] !== NEWLINE) return done(pos, "bad")
      records.push({ hash: header[1] ?? "", at: pos, offset, size: next - 1 - offset })
      pos = next
    }
    return done(pos, "end")
  } finally {
    closeQuietly(fs, fd)
  }
}

/** The body of a record, or undefined when the file ends before it does (the pack is not what was scanned). */
export const readRecord = (fs: FsPort, path: string, offset: number, size: number): Buffer | undefined => {
  const fd = fs.openSync(path, "r")
  try {
    const body = Buffer.allocUnsafe(size)
    return readAt(fs, fd, body, offset) === size ? body : undefined
  } finally {
    closeQuietly(fs, fd)
  }
}
