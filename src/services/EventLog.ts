import * as Path from "node:path"
import { Clock, Context, Effect, Layer, Result, Schema, Semaphore } from "effect"
import { disposeKept, forgetLock, type HeldLock, makeKeptLockFile, stillHeld } from "../adapters/FileLock.ts"
import { type AcquireOptions, type FileLockError, releaseLockResult, takeLock } from "../adapters/LockAcquisition.ts"
import { type LockHost, makeNodeLockHost } from "../adapters/LockOwner.ts"
import { describeError, errnoCode, type FsPort, nodeFs } from "../adapters/FsPort.ts"
import { LedgerFs } from "../adapters/LedgerFs.ts"
import { ledgerSparePool, type SparePool } from "../adapters/SparePool.ts"
import { ensureDir, genesisRecord, openLogFile } from "../adapters/LogFile.ts"
import {
  EMPTY_HEAD,
  encodeBatch,
  type Head,
  LogFileError,
  type LogRecord,
  newRecordsOf,
  type NewRecord,
  type TailRepair
} from "../adapters/LogRecordFormat.ts"
import { scan } from "../adapters/LogScan.ts"
import { LockHold, nextLockHold } from "./LockHold.ts"

export type { LogRecord, NewRecord, TailRepair } from "../adapters/LogRecordFormat.ts"

export class EventLogError extends Schema.TaggedError<EventLogError>()("EventLogError", {
  reason: Schema.Literals(["ReadOnly", "Locked", "Io", "Corrupt"]),
  message: Schema.String
}) {}

export interface EventLogOptions {
  readonly ledgerDir: string
  readonly fs?: FsPort
  readonly lockTimeoutMs?: number
  /** who this process is, for the lock (tests simulate other processes and reboots); default: this process */
  readonly lockHost?: LockHost
  /** spare inodes for the lock's temp file (`SparePool.ts`), instead of a new file per command */
  readonly spares?: SparePool
}

export class EventLog extends Context.Service<EventLog, {
  /** every committed record known to this process, in seq order (catch up first with `refresh`); a snapshot */
  readonly records: Effect.Effect<ReadonlyArray<LogRecord>>
  /** read records appended by other processes since the last read (no lock needed); returns only the new ones */
  readonly refresh: Effect.Effect<ReadonlyArray<LogRecord>, EventLogError>
  /**
   * The critical section: in-process semaphore + cross-process lock, catch up from disk, run
   * `decide` with all records, append what it returns (ids already recorded are skipped; only
   * the newly written records are in `appended`), fdatasync, run `afterAppend` (still under
   * the lock), release. `decide` failing => nothing appended. Both run with a `LockHold` of their own.
   */
  readonly transact: <A, E, E2 = never>(
    decide: (records: ReadonlyArray<LogRecord>) => Effect.Effect<{ readonly append: ReadonlyArray<NewRecord>; readonly value: A }, E>,
    afterAppend?: (appended: ReadonlyArray<LogRecord>, all: ReadonlyArray<LogRecord>) => Effect.Effect<void, E2>
  ) => Effect.Effect<{ readonly value: A; readonly appended: ReadonlyArray<LogRecord> }, E | E2 | EventLogError>
  /**
   * the same records without a copy (the log's own array, which only grows at its end): for reads done at once,
   * on paths that run per event, where a snapshot copy would cost O(log size) each time; never hold it
   */
  readonly live: Effect.Effect<ReadonlyArray<LogRecord>>
  /**
   * the record with this id among `live`, found without a scan (idempotency keys are looked up per command, and a
   * scan of the whole log per command grew with it: ~10 ms at 100,000 records); inside `transact`'s `decide` it
   * answers for the records `decide` is given
   */
  readonly recordById: (id: string) => LogRecord | undefined
  /** the records with a seq above `seq` (a small copy: what a tailer needs after each append) */
  readonly recordsAfter: (seq: number) => Effect.Effect<ReadonlyArray<LogRecord>>
  /** set when the open found and truncated a torn tail (the caller records LogTailRepaired) */
  readonly tailRepair: TailRepair | undefined
  /** why appends are refused (chain break, newer format, `refuseWrites`); may become set after a later catch-up */
  readonly readOnlyReason: string | undefined
  /** from now on this process appends nothing (e.g. the projections show records the log no longer has) */
  readonly refuseWrites: (reason: string) => Effect.Effect<void>
  readonly verify: Effect.Effect<{ readonly ok: boolean; readonly records: number; readonly problems: ReadonlyArray<string> }, EventLogError>
}>()("plugin-ledger/services/EventLog") {
  static readonly layer = (options: EventLogOptions): Layer.Layer<EventLog, EventLogError> =>
    Layer.effect(EventLog, makeFileEventLog(options))

  /** The file log on the `LedgerFs` port, so the log and the projections share one file system. */
  static readonly layerLedgerFs = (options: Omit<EventLogOptions, "fs">): Layer.Layer<EventLog, EventLogError, LedgerFs> =>
    Layer.effect(EventLog, Effect.gen(function*() {
      const fs = yield* LedgerFs
      return yield* makeFileEventLog({ ...options, fs, spares: ledgerSparePool(fs, options.ledgerDir) })
    }))

  static readonly layerMemory: Layer.Layer<EventLog> = Layer.effect(EventLog, Effect.suspend(() => makeMemoryEventLog))
}

/** The index of the first record with a seq above `seq` (the log's seqs are 1, 2, 3, ... so this is usually `seq`). */
export const indexAfter = (records: ReadonlyArray<LogRecord>, seq: number): number => {
  const last = records.at(-1)
  if (last === undefined || last.seq <= seq) return records.length
  if (seq <= 0) return 0
  if (records[seq - 1]?.seq === seq) return seq
  let low = 0
  let high = records.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((records[middle]?.seq ?? Infinity) <= seq) low = middle + 1
    else high = middle
  }
  return low
}

/** The records with a seq above `seq` (a copy of only those). */
export const recordsAfter = (records: ReadonlyArray<LogRecord>, seq: number): ReadonlyArray<LogRecord> =>
  records.slice(indexAfter(records, seq))

const fromLogFileError = (error: LogFileError): EventLogError => new EventLogError({ reason: error.reason, message: error.message })
const fromLockError = (error: FileLockError): EventLogError => new EventLogError({ reason: error.reason, message: error.message })

/**
 * Run a step of the synchronous core, inside a step of an effect: LogFileError and fs errors are typed failures,
 * anything else is thrown on (the effect running it dies of it).
 */
const trySync = <A>(f: () => A): Result.Result<A, EventLogError> => {
  try {
    return Result.succeed(f())
  } catch (error) {
    if (error instanceof LogFileError) return Result.fail(fromLogFileError(error))
    if (errnoCode(error) !== undefined) {
      return Result.fail(new EventLogError({ reason: "Io", message: `event log: ${describeError(error)}` }))
    }
    throw error
  }
}

/** `trySync` as an effect of its own. */
const runSync = <A>(f: () => A): Effect.Effect<A, EventLogError> => Effect.suspend(() => Effect.fromResult(trySync(f)))

const tailRepairedRecord = (repair: TailRepair, afterSeq: number, ts: string): NewRecord => ({
  id: `LogTailRepaired:${afterSeq}:${repair.sha256.slice(0, 32)}`,
  ts,
  type: "LogTailRepaired",
  data: { bytes: repair.bytes, sha256: repair.sha256, quarantineFile: repair.quarantineFile }
})

const makeFileEventLog = Effect.fn("EventLog.open")(function*(options: EventLogOptions) {
  const fs = options.fs ?? nodeFs
  const ledgerDir = Path.resolve(options.ledgerDir)
  const host = options.lockHost ?? makeNodeLockHost()
  const clock = yield* Clock.Clock
  const nowMs = () => clock.currentTimeMillisUnsafe()
  const semaphore = yield* Semaphore.make(1)

  /**
   * A lock this process took but could not release (the unlink failed): its file still names this process, so
   * without this every later acquisition would wait for itself. The next acquisition takes it back if it is still
   * ours, and tries to release it again at the end.
   */
  let unreleased: HeldLock | undefined
  /** the lock's temp file, kept between this log's acquisitions (`KeptLockFile` in FileLock.ts) */
  const keptLockFile = makeKeptLockFile()
  let orphansSwept = false
  const lockOptions: AcquireOptions = {
    fs,
    dir: ledgerDir,
    host,
    // orphaned lock files are removed at this process's first acquisition (and whenever the lock is busy)
    sweepOrphans: false,
    ...(options.spares === undefined ? {} : { tempFile: options.spares.takeFile }),
    kept: keptLockFile,
    ...(options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs })
  }
  const sweepingLockOptions: AcquireOptions = { ...lockOptions, sweepOrphans: true }
  /** Give the lock back, however the hold ended; a failed release is only logged, and retried (`unreleased`). */
  const release = (lock: HeldLock): Effect.Effect<void> =>
    Effect.suspend(() => {
      const released = releaseLockResult(fs, lock)
      if (Result.isFailure(released)) {
        unreleased = lock
        return Effect.logWarning(`could not release the ledger lock: ${released.failure.message}`)
      }
      return released.success ? Effect.void : Effect.logWarning(`ledger lock ${lock.path} was no longer ours at release`)
    })
  const taken = (lock: HeldLock): HeldLock => {
    orphansSwept = true
    return lock
  }
  /**
   * The lock, taken synchronously when it is free (the common case: a step of the caller's, no effect of its own),
   * else the effect that waits for it (or fails).
   */
  const acquireNow = (): HeldLock | Effect.Effect<HeldLock, EventLogError> => {
    const previous = unreleased
    unreleased = undefined
    if (previous !== undefined && Result.getOrElse(Result.try(() => stillHeld(fs, previous)), () => false)) return previous
    if (previous !== undefined) forgetLock(fs, previous)
    const lock = takeLock(orphansSwept ? lockOptions : sweepingLockOptions)
    return Effect.isEffect(lock) ? lock.pipe(Effect.map(taken), Effect.mapError(fromLockError)) : taken(lock)
  }
  /**
   * Hold the cross-process lock around `use` (called once the lock is taken), refused first if `refuse` says so:
   * the lock is released however `use` ends. Taking the lock and installing its release are one uninterruptible
   * step when the lock is free (only the waits for a busy one are interruptible, see `waitForLock`); `use` runs
   * interruptibly. (`Effect.acquireUseRelease`, with the acquisition a step of its own only when it has to wait.)
   */
  const withLock = <A, E>(
    use: () => Effect.Effect<A, E>,
    refuse?: () => EventLogError | undefined
  ): Effect.Effect<A, E | EventLogError> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        const refused = refuse?.()
        if (refused !== undefined) return Effect.fail(refused)
        const held = (lock: HeldLock) => Effect.onExit(restore(use()), () => release(lock))
        const lock = acquireNow()
        return Effect.isEffect(lock) ? Effect.flatMap(lock, held) : held(lock)
      })
    )

  // the lock's temp file is kept between acquisitions (FileLock.ts), and so is the descriptor the log appends through
  // (ActiveSegment.ts): closed, and the temp file removed, with the layer (however its opening ends)
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      if (unreleased !== undefined) forgetLock(fs, unreleased)
      unreleased = undefined
      disposeKept(fs, keptLockFile)
    })
  )
  yield* runSync(() => ensureDir(fs, ledgerDir))
  const file = yield* withLock(() => runSync(() => openLogFile({ fs, ledgerDir, nowMs })))
  yield* Effect.addFinalizer(() => Effect.sync(() => file.close()))

  let refused: string | undefined
  const readOnlyError = (): EventLogError | undefined => {
    const reason = file.readOnlyReason() ?? refused
    return reason === undefined ? undefined : new EventLogError({ reason: "ReadOnly", message: reason })
  }

  /**
   * Under the lock, before `decide`: catch up with what other processes appended, refuse if that made the log
   * read-only, and record the repair of a torn tail another process left after our open.
   */
  const catchUpUnderLock = (): Result.Result<void, EventLogError> => {
    const caughtUp = trySync(() => file.catchUp())
    if (Result.isFailure(caughtUp)) return Result.fail(caughtUp.failure)
    const readOnly = readOnlyError()
    if (readOnly !== undefined) return Result.fail(readOnly)
    const { repair } = caughtUp.success
    if (repair === undefined) return Result.void
    const head = file.live().at(-1)?.seq ?? 0
    const ts = new Date(nowMs()).toISOString()
    return trySync(() => {
      file.append([tailRepairedRecord(repair, head, ts)])
    })
  }

  type Transacted<A> = { readonly value: A; readonly appended: ReadonlyArray<LogRecord> }
  const transact = <A, E, E2 = never>(
    decide: (records: ReadonlyArray<LogRecord>) => Effect.Effect<{ readonly append: ReadonlyArray<NewRecord>; readonly value: A }, E>,
    afterAppend?: (appended: ReadonlyArray<LogRecord>, all: ReadonlyArray<LogRecord>) => Effect.Effect<void, E2>
  ): Effect.Effect<Transacted<A>, E | E2 | EventLogError> => {
    // the synchronous steps (catch-up, append) run inside the steps around `decide` and `afterAppend`, instead of
    // as effects of their own: every effect here is a runtime op on every command's path
    const underLock = Effect.suspend(() => {
      const ready = catchUpUnderLock()
      if (Result.isFailure(ready)) return Effect.fail(ready.failure)
      return Effect.flatMap(decide(file.live()), (decision): Effect.Effect<Transacted<A>, E2 | EventLogError> => {
        const appended = trySync(() => file.append(decision.append))
        if (Result.isFailure(appended)) return Effect.fail(appended.failure)
        const result = { value: decision.value, appended: appended.success }
        // a map, not `as` (whose value is a step of its own)
        return afterAppend === undefined ? Effect.succeed(result) : Effect.map(afterAppend(appended.success, file.live()), () => result)
      })
    })
    // a new hold for every run of the returned effect (a transaction can be run more than once)
    return withLock(() => Effect.provideService(underLock, LockHold, nextLockHold()), readOnlyError).pipe(semaphore.withPermits(1))
  }

  return EventLog.of({
    records: Effect.sync(() => file.records()),
    live: Effect.sync(() => file.live()),
    recordById: (id) => file.recordById(id),
    recordsAfter: (seq) => Effect.sync(() => recordsAfter(file.live(), seq)),
    refresh: runSync(() => file.refresh()),
    transact,
    tailRepair: file.openRepair,
    get readOnlyReason() {
      return file.readOnlyReason() ?? refused
    },
    refuseWrites: (reason) => Effect.sync(() => { refused ??= reason }),
    verify: withLock(() => runSync(() => file.verify())).pipe(semaphore.withPermits(1))
  })
})

/** The same contract in memory: identical record format, hashes, idempotency and genesis record. */
const makeMemoryEventLog = Effect.gen(function*() {
  const semaphore = yield* Semaphore.make(1)
  const nowMs = yield* Clock.clockWith((clock) => Effect.sync(() => () => clock.currentTimeMillisUnsafe()))
  const all: Array<LogRecord> = []
  const lines: Array<Buffer> = []
  const byId = new Map<string, LogRecord>()
  let head: Head = EMPTY_HEAD

  const append = (batch: ReadonlyArray<NewRecord>): ReadonlyArray<LogRecord> => {
    const fresh = newRecordsOf(batch, (id) => byId.has(id))
    if (fresh.length === 0) return []
    const encoded = encodeBatch(head, fresh)
    lines.push(encoded.bytes)
    for (const record of encoded.records) {
      all.push(record)
      byId.set(record.id, record)
    }
    head = encoded.head
    return encoded.records
  }
  append([genesisRecord(new Date(nowMs()).toISOString())])

  let refused: string | undefined
  const transact = <A, E, E2 = never>(
    decide: (records: ReadonlyArray<LogRecord>) => Effect.Effect<{ readonly append: ReadonlyArray<NewRecord>; readonly value: A }, E>,
    afterAppend?: (appended: ReadonlyArray<LogRecord>, all: ReadonlyArray<LogRecord>) => Effect.Effect<void, E2>
  ): Effect.Effect<{ readonly value: A; readonly appended: ReadonlyArray<LogRecord> }, E | E2 | EventLogError> =>
    Effect.gen(function*() {
      if (refused !== undefined) return yield* new EventLogError({ reason: "ReadOnly", message: refused })
      const decision = yield* decide(all)
      const appended = yield* runSync(() => append(decision.append))
      if (afterAppend !== undefined) yield* afterAppend(appended, all)
      return { value: decision.value, appended }
    }).pipe(
      // no other process shares a log in memory: the semaphore alone is the hold
      (underLock) => Effect.suspend(() => Effect.provideService(underLock, LockHold, nextLockHold())),
      semaphore.withPermits(1)
    )

  return EventLog.of({
    records: Effect.sync((): ReadonlyArray<LogRecord> => Object.freeze(all.slice())),
    live: Effect.sync((): ReadonlyArray<LogRecord> => all),
    recordById: (id) => byId.get(id),
    recordsAfter: (seq) => Effect.sync(() => recordsAfter(all, seq)),
    refresh: Effect.succeed([]),
    transact,
    tailRepair: undefined,
    get readOnlyReason() {
      return refused
    },
    refuseWrites: (reason) => Effect.sync(() => { refused ??= reason }),
    verify: Effect.sync(() => {
      const result = scan(Buffer.concat(lines), 0, EMPTY_HEAD, "memory")
      const problems = [...result.skipped, ...(result.stop === undefined ? [] : [result.stop]), ...result.tail]
      return { ok: problems.length === 0 && result.committed.length === all.length, records: result.committed.length, problems }
    })
  })
})
