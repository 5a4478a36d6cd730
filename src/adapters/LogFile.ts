/**
 * The event log on disk: segment files under `events/`, opened and recovered under the lock (torn tails
 * truncated into `quarantine/`, breaks make it read-only), appended with one write and an fdatasync.
 * The line format and chain scan are in `LogRecordFormat.ts`, the segment files in `LogSegments.ts`, the
 * verification in `LogVerify.ts`.
 */
import { createHash, randomUUID } from "node:crypto"
import * as Path from "node:path"
import { makeActiveSegment } from "./ActiveSegment.ts"
import { closeQuietly, fsyncDir, writeFileAtomic } from "./AtomicFile.ts"
import { describeError, errnoCode, type FsPort } from "./FsPort.ts"
import { segmentName } from "./SegmentName.ts"
import { io, listSegments, readRange, type Segment } from "./LogSegments.ts"
import { verifySegments, type VerifyReport } from "./LogVerify.ts"
import {
  EMPTY_HEAD,
  encodeBatch,
  encodeRecord,
  FORMAT_VERSION,
  LogFileError,
  type LogRecord,
  newRecordsOf,
  type NewRecord,
  type TailRepair,
  ZERO_HASH
} from "./LogRecordFormat.ts"
import { scan } from "./LogScan.ts"

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

export interface LogFile {
  readonly ledgerDir: string
  /** committed records known to this process, in seq order (an immutable snapshot, copied after each append) */
  readonly records: () => ReadonlyArray<LogRecord>
  /**
   * the same records without a copy: the log's own array, which only ever grows at its end. For the critical
   * section, where a copy per append would make every event cost O(log size); do not hold it across an append.
   */
  readonly live: () => ReadonlyArray<LogRecord>
  /** the record with this id among `live` (the first, should a tampered log hold two) */
  readonly recordById: (id: string) => LogRecord | undefined
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
  /** close the descriptor held for appends (a later append opens it again) */
  readonly close: () => void
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
  let snapshot: ReadonlyArray<LogRecord> | undefined
  /** `all` by record id: idempotency keys are looked up per command, never scanned for */
  const byId = new Map<string, LogRecord>()
  const skipped: Array<string> = []
  let head = EMPTY_HEAD
  let active: Segment | undefined
  let offset = 0 // bytes of `active` that hold committed records
  /** which file `active` is, and the descriptor appends go through (see ActiveSegment.ts) */
  const held = makeActiveSegment(fs)
  let readOnly: string | undefined
  let poisoned: string | undefined

  const commit = (records: ReadonlyArray<LogRecord>): void => {
    for (const r of records) {
      all.push(r)
      snapshot = undefined
      if (!byId.has(r.id)) byId.set(r.id, r)
    }
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

  /** How many bytes of each segment this process knows to be durable (it wrote and fsynced them, or synced them). */
  const durableLength = new Map<string, number>()
  /** A full fsync (not fdatasync): the bytes were written by another process, nothing is known of their state. */
  const syncSegment = (segment: Segment): void => {
    const fd = io(`opening ${segment.name}`, () => fs.openSync(segment.path, "r"))
    try {
      fs.fsyncSync(fd)
    } catch (error) {
      poison(`fsync of ${segment.name}`, error)
    } finally {
      closeQuietly(fs, fd)
    }
  }

  /** Read new bytes of the active segment (and any newer segments); optionally repair a torn tail. */
  const catchUpInternal = (repair: boolean): { records: ReadonlyArray<LogRecord>; repair: TailRepair | undefined } => {
    if (readOnly !== undefined) return { records: [], repair: undefined }
    // the usual case, nothing new: two stats (ActiveSegment.ts); a sync still owed (records another process wrote,
    // read without the lock) takes the full path, which makes it
    const owesSync = repair && active !== undefined && (durableLength.get(active.name) ?? 0) < offset
    if (active !== undefined && !owesSync && held.unchanged(active.path, offset, Path.join(eventsDir, segmentName(head.seq + 1)))) {
      return { records: [], repair: undefined }
    }
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
      const { bytes, size, identity } = io(`reading ${segment.name}`, () => readRange(fs, segment.path, from))
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
      const end = from + result.committedEnd
      if (repair && end > (durableLength.get(segment.name) ?? 0)) {
        // under the lock, records this process did not write are a dead writer's, maybe never fdatasynced: make
        // them durable before anything (a projection, a decision) relies on them
        syncSegment(segment)
        durableLength.set(segment.name, end)
      }
      commit(result.committed)
      // one by one: spreading a segment's records as arguments overflows the stack past ~120,000 of them
      for (const record of result.committed) fresh.push(record)
      skipped.push(...result.skipped)
      head = result.head
      active = segment
      offset = from + result.committedEnd
      held.saw(segment.path, identity)
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
    const fresh = newRecordsOf(batch, (id) => byId.has(id))
    if (fresh.length === 0) return []
    // one batch: its last record closes it, so a write cut short leaves no part of it committed (LogScan.ts)
    const { bytes, records, head: prev } = encodeBatch(head, fresh)
    // O_APPEND: if a lock bug ever let a second writer in, its bytes and ours could not overwrite each other; the size
    // checks before (never written at a stale offset: fstat of the held descriptor) and after (never an ack for a
    // record landed after another writer's bytes, or in a file no longer at the segment's path: stat of the path)
    // turn that case into a failure, never an ack.
    const replaced = () =>
      new LogFileError({
        reason: "Io",
        message: `event log ${segment.name} is no longer the file this process read (replaced under it); nothing was appended`
      })
    const { fd, stats } = io(`opening ${segment.name} for append`, () => held.forAppend(segment.path, replaced))
    try {
      if (stats.size !== offset) {
        throw new LogFileError({
          reason: "Io",
          message: `event log ${segment.name} is ${stats.size} bytes but its committed end is ${offset}; ` +
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
      const now = io(`stat of ${segment.name}`, () => fs.statSync(segment.path))
      if (!held.isSeen(now)) {
        // our bytes went (durably) to the file renamed away, not to the log at the path: nothing was appended to it
        held.lost()
        throw replaced()
      }
      const after = now.size
      if (after !== offset + bytes.length) {
        poison(`append to ${segment.name}`, new Error(
          `the file is ${after} bytes, expected ${offset + bytes.length}: another process wrote without the ledger lock`
        ))
      }
    } catch (error) {
      // whatever failed, the descriptor is not trusted again: the next append opens the path anew
      held.drop()
      throw error
    }
    offset += bytes.length
    durableLength.set(segment.name, offset)
    head = prev
    commit(records)
    return records
  }

  // --- open: create the directory and first segment if needed, then recover
  io("creating events/", () => ensureDir(fs, eventsDir))
  const existing = io("listing events/", () => listSegments(fs, eventsDir))
  if (existing.length === 0) {
    const ts = new Date(nowMs()).toISOString()
    const genesis = encodeRecord(1, ZERO_HASH, genesisRecord(ts))
    io("creating the first segment", () => writeFileAtomic(fs, Path.join(eventsDir, segmentName(1)), genesis.line, 0o644))
    durableLength.set(segmentName(1), genesis.line.length)
  }
  // the segments' names, and the ledger dir's own entry, may have been created by a process that crashed before
  // fsyncing them: existing is not durable, so they are made durable before anything is appended to them
  io("syncing events/", () => {
    fsyncDir(fs, eventsDir)
    fsyncDir(fs, ledgerDir)
    fsyncDir(fs, Path.dirname(Path.resolve(ledgerDir)))
  })
  const openRepair = catchUpInternal(true).repair
  if (readOnly === undefined && all.length === 0) {
    // an empty segment (or one whose only, torn, record was quarantined): write the genesis record
    appendInternal([genesisRecord(new Date(nowMs()).toISOString())])
  }

  return {
    ledgerDir,
    records: () => (snapshot ??= Object.freeze(all.slice())),
    live: () => all,
    recordById: (id) => byId.get(id),
    readOnlyReason: () => readOnly,
    openRepair,
    skipped: () => skipped.slice(),
    refresh: () => catchUpInternal(false).records,
    catchUp: () => catchUpInternal(true),
    append: appendInternal,
    verify: () => verifySegments(fs, eventsDir, all, readOnly),
    close: held.drop
  }
}

/** The first record of every log: a random `logId`, so logs cannot be spliced together. */
export const genesisRecord = (ts: string): NewRecord => ({
  id: randomUUID(),
  ts,
  type: "LogCreated",
  data: { logId: randomUUID(), format: FORMAT_VERSION }
})
