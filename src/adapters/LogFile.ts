import { createHash, randomUUID } from "node:crypto"
import * as Path from "node:path"
import { Result, Schema } from "effect"
import { closeQuietly, fsyncDir, writeFileAtomic } from "./AtomicFile.ts"
import { describeError, errnoCode, type FsPort } from "./FsPort.ts"

/** A committed record: verified hash, contiguous `seq`, `prev` = the previous record's `h`. */
export interface LogRecord {
  readonly seq: number
  readonly id: string
  readonly ts: string
  readonly type: string
  readonly data: unknown
  readonly prev: string
  readonly h: string
}

/** What a writer supplies; `id` is the idempotency key. */
export interface NewRecord {
  readonly id: string
  readonly ts: string
  readonly type: string
  readonly data: unknown
}

/** A torn tail removed at open; `quarantineFile` is relative to the ledger directory. */
export interface TailRepair {
  readonly bytes: number
  readonly sha256: string
  readonly quarantineFile: string
}

export class LogFileError extends Schema.TaggedError<LogFileError>()("LogFileError", {
  reason: Schema.Literals(["ReadOnly", "Io", "Corrupt"]),
  message: Schema.String
}) {}

export const FORMAT_VERSION = 1
export const ZERO_HASH = "0".repeat(32)
/** Larger payloads belong in a content-addressed blob, referenced from the record. */
export const MAX_RECORD_BYTES = 1024 * 1024
const HASH_MARKER = Buffer.from(`,"h":"`, "utf8")
const NEWLINE = 0x0a

/** First 128 bits of SHA-256, as 32 lower-case hex characters. */
export const hash128 = (bytes: Uint8Array | string): string =>
  createHash("sha256").update(bytes).digest("hex").slice(0, 32)

// ---------------------------------------------------------------------------------------------
// Encoding and parsing of one line

/** Serialise one record with keys in the fixed order; `h` covers the bytes before `,"h":"`. */
export const encodeRecord = (seq: number, prev: string, record: NewRecord): { readonly line: Buffer; readonly record: LogRecord } => {
  const dataJson = JSON.stringify(record.data)
  if (dataJson === undefined) throw new TypeError(`event log: record ${record.id} has no JSON-serialisable data`)
  const body = `{"v":${FORMAT_VERSION},"seq":${seq},"id":${JSON.stringify(record.id)},"ts":${JSON.stringify(record.ts)},` +
    `"type":${JSON.stringify(record.type)},"data":${dataJson},"prev":"${prev}"`
  const h = hash128(body)
  const line = Buffer.from(`${body},"h":"${h}"}\n`, "utf8")
  if (line.length > MAX_RECORD_BYTES) {
    throw new RangeError(`event log: record ${record.id} is ${line.length} bytes (max ${MAX_RECORD_BYTES}); store large payloads as blobs`)
  }
  // parse the data back so the in-memory record equals what a reader of the file gets
  const parsedData: unknown = JSON.parse(dataJson)
  return { line, record: { seq, id: record.id, ts: record.ts, type: record.type, data: parsedData, prev, h } }
}

const Hex32 = Schema.String.check(Schema.isPattern(/^[0-9a-f]{32}$/))
const decodeJson = Schema.decodeUnknownResult(Schema.fromJsonString(Schema.Unknown))
const decodeVersion = Schema.decodeUnknownResult(Schema.Struct({ v: Schema.Number }))
const decodeRecordV1 = Schema.decodeUnknownResult(Schema.Struct({
  v: Schema.Literal(1),
  seq: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  id: Schema.String,
  ts: Schema.String,
  type: Schema.String,
  data: Schema.Unknown,
  prev: Hex32,
  h: Hex32
}))

type ParsedLine =
  | { readonly _tag: "Valid"; readonly record: LogRecord }
  | { readonly _tag: "Invalid"; readonly reason: string }
  | { readonly _tag: "Newer"; readonly v: number }

/**
 * A line (without its newline) is valid when the hash over the bytes before the last
 * `,"h":"` matches and the JSON decodes. A hash-valid line with another `v` is from a newer
 * format (future formats keep this framing rule).
 */
export const parseLine = (line: Buffer): ParsedLine => {
  const at = line.lastIndexOf(HASH_MARKER)
  if (at < 0) return { _tag: "Invalid", reason: "no hash field" }
  const tail = line.subarray(at + HASH_MARKER.length).toString("latin1")
  if (!/^[0-9a-f]{32}"\}$/.test(tail)) return { _tag: "Invalid", reason: "malformed hash field" }
  const h = tail.slice(0, 32)
  if (hash128(line.subarray(0, at)) !== h) return { _tag: "Invalid", reason: "hash mismatch" }
  const json = decodeJson(line.toString("utf8"))
  if (Result.isFailure(json)) return { _tag: "Invalid", reason: "hash verifies but the line is not JSON" }
  const version = decodeVersion(json.success)
  if (Result.isFailure(version)) return { _tag: "Invalid", reason: "hash verifies but there is no numeric v" }
  if (version.success.v !== FORMAT_VERSION) return { _tag: "Newer", v: version.success.v }
  const decoded = decodeRecordV1(json.success)
  if (Result.isFailure(decoded)) return { _tag: "Invalid", reason: `hash verifies but the record is malformed (${decoded.failure.message})` }
  const r = decoded.success
  if (r.h !== h) return { _tag: "Invalid", reason: "h field does not match the framed hash" }
  return { _tag: "Valid", record: { seq: r.seq, id: r.id, ts: r.ts, type: r.type, data: r.data, prev: r.prev, h: r.h } }
}

// ---------------------------------------------------------------------------------------------
// Scanning a byte range against the chain

export interface Head {
  readonly seq: number
  readonly h: string
}
export const EMPTY_HEAD: Head = { seq: 0, h: ZERO_HASH }

export interface ScanResult {
  readonly committed: ReadonlyArray<LogRecord>
  /** offset in the scanned buffer just past the last committed record */
  readonly committedEnd: number
  readonly head: Head
  /** benign fragments and orphans that were followed by committed records */
  readonly skipped: ReadonlyArray<string>
  /** set when nothing may be written: a chain break (committed data missing) or a newer format */
  readonly stop: string | undefined
  /** what the bytes after `committedEnd` contain, when there are any */
  readonly tail: ReadonlyArray<string>
}

/**
 * Apply the chain rule to `buf` (which starts at byte `base` of segment `where`): a record is
 * committed if it verifies and has `seq == head.seq + 1` and `prev == head.h`. Invalid bytes
 * or orphans (valid records that do not chain, seq not ahead) followed by a committed record
 * are skipped and reported; a valid record whose seq is ahead of `head.seq + 1` means
 * committed records are missing, so the scan stops with a read-only verdict.
 */
export const scan = (buf: Buffer, base: number, startHead: Head, where: string): ScanResult => {
  const committed: Array<LogRecord> = []
  const skipped: Array<string> = []
  let pending: Array<string> = []
  let head = startHead
  let committedEnd = 0
  let pos = 0
  let stop: string | undefined
  while (pos < buf.length && stop === undefined) {
    const nl = buf.indexOf(NEWLINE, pos)
    if (nl < 0) {
      pending.push(`incomplete line (${buf.length - pos} bytes, no newline) at byte ${base + pos}`)
      break
    }
    const parsed = parseLine(buf.subarray(pos, nl))
    if (parsed._tag === "Newer") {
      stop = `event log ${where} has a record in format v${parsed.v} at byte ${base + pos} (seq ${head.seq + 1}), ` +
        `written by a newer plugin-ledger; refusing to write; upgrade plugin-ledger`
    } else if (parsed._tag === "Invalid") {
      pending.push(`${parsed.reason} at byte ${base + pos}`)
    } else {
      const r = parsed.record
      if (r.seq === head.seq + 1 && r.prev === head.h) {
        if (pending.length > 0) {
          skipped.push(`${where}: skipped bytes ${base + committedEnd}-${base + pos} before seq ${r.seq}: ${pending.join("; ")}`)
          pending = []
        }
        committed.push(r)
        head = { seq: r.seq, h: r.h }
        committedEnd = nl + 1
      } else if (r.seq > head.seq + 1) {
        const before = pending.length > 0 ? ` after ${pending.join("; ")}` : ""
        stop = `event log is corrupt at byte ${base + committedEnd} (seq ${head.seq + 1}): ` +
          `record seq ${r.seq} at byte ${base + pos} of ${where} follows seq ${head.seq}${before}, ` +
          `so committed records are missing or corrupt; refusing to write; see plugin-ledger doctor`
      } else {
        const why = r.seq <= head.seq ? `duplicate seq ${r.seq}` : `seq ${r.seq} with a prev that is not seq ${head.seq}'s hash`
        pending.push(`orphan record (${why}) at byte ${base + pos}`)
      }
    }
    pos = nl + 1
  }
  return { committed, committedEnd, head, skipped, stop, tail: stop === undefined ? pending : [] }
}

// ---------------------------------------------------------------------------------------------
// Segments

const SEGMENT_RE = /^(\d{20})\.jsonl$/
export const segmentName = (firstSeq: number): string => `${String(firstSeq).padStart(20, "0")}.jsonl`

interface Segment {
  readonly firstSeq: number
  readonly name: string
  readonly path: string
}

const listSegments = (fs: FsPort, eventsDir: string): ReadonlyArray<Segment> =>
  fs.readdirSync(eventsDir)
    .flatMap((name) => {
      const m = SEGMENT_RE.exec(name)
      return m?.[1] === undefined ? [] : [{ firstSeq: Number(m[1]), name, path: Path.join(eventsDir, name) }]
    })
    .sort((a, b) => a.firstSeq - b.firstSeq)

const readRange = (fs: FsPort, path: string, from: number): { readonly bytes: Buffer; readonly size: number } => {
  const fd = fs.openSync(path, "r")
  try {
    const size = fs.fstatSync(fd).size
    const bytes = Buffer.alloc(Math.max(0, size - from))
    let done = 0
    while (done < bytes.length) {
      const n = fs.readSync(fd, bytes, done, bytes.length - done, from + done)
      if (n === 0) break
      done += n
    }
    return { bytes: bytes.subarray(0, done), size }
  } finally {
    closeQuietly(fs, fd)
  }
}

/** Rethrow file-system errors (those with an errno code) as LogFileError "Io"; bugs stay defects. */
const io = <A>(what: string, f: () => A): A => {
  try {
    return f()
  } catch (error) {
    if (error instanceof LogFileError || errnoCode(error) === undefined) throw error
    throw new LogFileError({ reason: "Io", message: `event log: ${what}: ${describeError(error)}` })
  }
}

/** Create a directory (and parents) if missing, fsyncing the parent of each directory created. */
export const ensureDir = (fs: FsPort, dir: string): void => {
  const missing: Array<string> = []
  let current = Path.resolve(dir)
  while (true) {
    try {
      fs.statSync(current)
      break
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") throw error
      missing.push(current)
      const parent = Path.dirname(current)
      if (parent === current) break
      current = parent
    }
  }
  if (missing.length === 0) return
  fs.mkdirSync(dir, { recursive: true })
  for (const created of missing) fsyncDir(fs, Path.dirname(created))
}

// ---------------------------------------------------------------------------------------------
// The log

export interface VerifyReport {
  readonly ok: boolean
  readonly records: number
  readonly problems: ReadonlyArray<string>
}

export interface LogFile {
  readonly ledgerDir: string
  /** committed records known to this process, in seq order (an immutable snapshot) */
  readonly records: () => ReadonlyArray<LogRecord>
  readonly readOnlyReason: () => string | undefined
  /** the torn tail removed when the log was opened */
  readonly openRepair: TailRepair | undefined
  /** benign fragments and orphans skipped so far */
  readonly skipped: () => ReadonlyArray<string>
  /** read what other processes appended (no lock needed); an incomplete tail is left for later */
  readonly refresh: () => ReadonlyArray<LogRecord>
  /** UNDER THE LOCK: catch up and repair a torn tail (quarantine + truncate) */
  readonly catchUp: () => { readonly records: ReadonlyArray<LogRecord>; readonly repair: TailRepair | undefined }
  /** UNDER THE LOCK, right after `catchUp`: append records whose ids are new; one write, then fdatasync */
  readonly append: (batch: ReadonlyArray<NewRecord>) => ReadonlyArray<LogRecord>
  /** re-read every segment from disk and check hashes, chain, genesis and this process's view */
  readonly verify: () => VerifyReport
}

export interface OpenOptions {
  readonly fs: FsPort
  readonly ledgerDir: string
  /** wall-clock milliseconds, for the genesis record and quarantine names */
  readonly nowMs: () => number
}

const compactIso = (ms: number): string => new Date(ms).toISOString().replace(/[-:]/g, "")

/**
 * Open (creating if needed) and recover the log in `<ledgerDir>/events/`. The caller must
 * hold the ledger lock. Throws LogFileError ("Io") if the files cannot be read; a corrupt
 * log opens read-only instead (see `readOnlyReason`).
 */
export const openLogFile = (options: OpenOptions): LogFile => {
  const { fs, ledgerDir, nowMs } = options
  const eventsDir = Path.join(ledgerDir, "events")
  const quarantineDir = Path.join(ledgerDir, "quarantine")

  const all: Array<LogRecord> = []
  const ids = new Set<string>()
  const skipped: Array<string> = []
  let snapshot: ReadonlyArray<LogRecord> | undefined
  let head = EMPTY_HEAD
  let active: Segment | undefined
  let offset = 0 // bytes of `active` that hold committed records
  let readOnly: string | undefined
  let poisoned: string | undefined

  const commit = (records: ReadonlyArray<LogRecord>): void => {
    for (const r of records) {
      all.push(r)
      ids.add(r.id)
    }
    if (records.length > 0) snapshot = undefined
  }

  const poison = (what: string, error: unknown): never => {
    poisoned = `event log is poisoned after a failed ${what} (${describeError(error)}); ` +
      `refusing further writes until the process restarts and recovers the log`
    throw new LogFileError({ reason: "Io", message: poisoned })
  }

  /** Quarantine `bytes` (the tail after `from` in `segment`), then truncate it away durably. */
  const repairTail = (segment: Segment, from: number, bytes: Buffer): TailRepair => {
    const sha256 = createHash("sha256").update(bytes).digest("hex")
    const name = `${compactIso(nowMs())}-${sha256.slice(0, 16)}.bin`
    io("creating quarantine/", () => ensureDir(fs, quarantineDir))
    io(`writing quarantine/${name}`, () => writeFileAtomic(fs, Path.join(quarantineDir, name), bytes, 0o600))
    const fd = io(`opening ${segment.name}`, () => fs.openSync(segment.path, "r+"))
    try {
      io(`truncating ${segment.name} to ${from}`, () => fs.ftruncateSync(fd, from))
      try {
        fs.fsyncSync(fd)
      } catch (error) {
        poison(`fsync of ${segment.name} after truncating a torn tail`, error)
      }
    } finally {
      closeQuietly(fs, fd)
    }
    return { bytes: bytes.length, sha256, quarantineFile: `quarantine/${name}` }
  }

  /** Read new bytes of the active segment (and any newer segments); optionally repair a torn tail. */
  const catchUpInternal = (repair: boolean): { records: ReadonlyArray<LogRecord>; repair: TailRepair | undefined } => {
    if (readOnly !== undefined) return { records: [], repair: undefined }
    const segments = io("listing events/", () => listSegments(fs, eventsDir))
    const start = active === undefined ? 0 : segments.findIndex((s) => s.name === active?.name)
    if (start < 0) {
      readOnly = `event log segment ${active?.name} disappeared; refusing to write; see plugin-ledger doctor`
      return { records: [], repair: undefined }
    }
    const fresh: Array<LogRecord> = []
    let repaired: TailRepair | undefined
    for (let i = start; i < segments.length; i++) {
      const segment = segments[i]
      if (segment === undefined) break
      const from = segment === active || segment.name === active?.name ? offset : 0
      const { bytes, size } = io(`reading ${segment.name}`, () => readRange(fs, segment.path, from))
      if (size < from) {
        readOnly = `event log is corrupt at byte ${size} (seq ${head.seq + 1}): ${segment.name} shrank below ` +
          `its last committed record (byte ${from}); refusing to write; see plugin-ledger doctor`
        break
      }
      const result = scan(bytes, from, head, `events/${segment.name}`)
      const first = result.committed[0]
      if (from === 0 && first !== undefined && first.seq !== segment.firstSeq) {
        readOnly = `event log is corrupt at byte 0 (seq ${first.seq}): segment ${segment.name} starts with seq ${first.seq}; ` +
          `refusing to write; see plugin-ledger doctor`
        break
      }
      commit(result.committed)
      fresh.push(...result.committed)
      skipped.push(...result.skipped)
      head = result.head
      active = segment
      offset = from + result.committedEnd
      if (result.stop !== undefined) {
        readOnly = result.stop
        break
      }
      const isLast = i === segments.length - 1
      if (result.tail.length > 0 && !isLast) {
        skipped.push(`events/${segment.name}: ${bytes.length - result.committedEnd} trailing bytes in a sealed segment: ${result.tail.join("; ")}`)
      }
      if (result.tail.length > 0 && isLast && repair) {
        repaired = repairTail(segment, offset, bytes.subarray(result.committedEnd))
      }
    }
    return { records: fresh, repair: repaired }
  }

  const appendInternal = (batch: ReadonlyArray<NewRecord>): ReadonlyArray<LogRecord> => {
    if (readOnly !== undefined) throw new LogFileError({ reason: "ReadOnly", message: readOnly })
    if (poisoned !== undefined) throw new LogFileError({ reason: "Io", message: poisoned })
    const segment = active
    if (segment === undefined) throw new LogFileError({ reason: "Io", message: "event log has no segment" })
    const lines: Array<Buffer> = []
    const records: Array<LogRecord> = []
    const seen = new Set<string>()
    let prev = head
    for (const r of batch) {
      if (ids.has(r.id) || seen.has(r.id)) continue
      seen.add(r.id)
      const encoded = encodeRecord(prev.seq + 1, prev.h, r)
      lines.push(encoded.line)
      records.push(encoded.record)
      prev = { seq: encoded.record.seq, h: encoded.record.h }
    }
    if (records.length === 0) return []
    const bytes = Buffer.concat(lines)
    // O_APPEND: if a lock bug ever let a second writer in, its bytes and ours could not overwrite
    // each other; the size checks before and after turn that case into a failure, never an ack.
    const fd = io(`opening ${segment.name} for append`, () => fs.openSync(segment.path, "a"))
    try {
      const size = io(`stat of ${segment.name}`, () => fs.fstatSync(fd).size)
      if (size !== offset) {
        throw new LogFileError({
          reason: "Io",
          message: `event log ${segment.name} is ${size} bytes but its committed end is ${offset}; ` +
            `another writer is not holding the ledger lock; nothing was appended`
        })
      }
      let written = 0
      let failure: unknown
      try {
        written = fs.writeSync(fd, bytes, 0, bytes.length, null) // one write for the whole batch
      } catch (error) {
        failure = error
      }
      if (failure !== undefined || written !== bytes.length) {
        // undo a partial write so no fragment is left behind, then fail (never retried piecemeal)
        try {
          fs.ftruncateSync(fd, offset)
          fs.fsyncSync(fd)
        } catch (error) {
          poison(`rollback of a failed append to ${segment.name}`, error)
        }
        const why = failure !== undefined ? describeError(failure) : `short write (${written} of ${bytes.length} bytes)`
        throw new LogFileError({ reason: "Io", message: `event log: append to ${segment.name} failed: ${why}; nothing was appended` })
      }
      try {
        fs.fdatasyncSync(fd)
      } catch (error) {
        poison(`fdatasync of ${segment.name}`, error)
      }
      const after = io(`stat of ${segment.name}`, () => fs.fstatSync(fd).size)
      if (after !== offset + bytes.length) {
        poison(`append to ${segment.name}`, new Error(
          `the file is ${after} bytes, expected ${offset + bytes.length}: another process wrote without the ledger lock`
        ))
      }
    } finally {
      closeQuietly(fs, fd)
    }
    offset += bytes.length
    head = prev
    commit(records)
    return records
  }

  const verifyInternal = (): VerifyReport => {
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
      found.push(...result.committed)
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
    for (const r of all) {
      const onDisk = found[r.seq - 1]
      if (onDisk === undefined) problems.push(`seq ${r.seq}, known to this process, is no longer committed on disk`)
      else if (onDisk.h !== r.h) problems.push(`seq ${r.seq} on disk differs from the record this process read`)
    }
    if (readOnly !== undefined && !problems.includes(readOnly)) problems.push(readOnly)
    return { ok: problems.length === 0, records: found.length, problems }
  }

  // --- open: create the directory and first segment if needed, then recover
  io("creating events/", () => ensureDir(fs, eventsDir))
  const existing = io("listing events/", () => listSegments(fs, eventsDir))
  if (existing.length === 0) {
    const ts = new Date(nowMs()).toISOString()
    const genesis = encodeRecord(1, ZERO_HASH, genesisRecord(ts))
    io("creating the first segment", () => writeFileAtomic(fs, Path.join(eventsDir, segmentName(1)), genesis.line, 0o644))
  }
  const openRepair = catchUpInternal(true).repair
  if (readOnly === undefined && all.length === 0) {
    // an empty segment (or one whose only, torn, record was quarantined): write the genesis record
    appendInternal([genesisRecord(new Date(nowMs()).toISOString())])
  }

  return {
    ledgerDir,
    records: () => (snapshot ??= Object.freeze(all.slice())),
    readOnlyReason: () => readOnly,
    openRepair,
    skipped: () => skipped.slice(),
    refresh: () => catchUpInternal(false).records,
    catchUp: () => catchUpInternal(true),
    append: appendInternal,
    verify: verifyInternal
  }
}

/** The first record of every log: a random `logId`, so logs cannot be spliced together. */
export const genesisRecord = (ts: string): NewRecord => ({
  id: randomUUID(),
  ts,
  type: "LogCreated",
  data: { logId: randomUUID(), format: FORMAT_VERSION }
})
