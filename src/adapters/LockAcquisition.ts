/**
 * Taking the ledger's lock (`FileLock.ts`) as the engine does: a free lock in one synchronous attempt (orphans swept
 * first when asked), a busy one waited for with jittered, backed-off retries until a timeout, and every failure a
 * `FileLockError` naming what failed.
 */
import { Clock, Effect, Random, Result, Schema } from "effect"
import { type HeldLock, type KeptLockFile, type LockAttempt, releaseLock, removeOrphans, type TempFile, tryAcquireLock } from "./FileLock.ts"
import { describeError, type FsPort } from "./FsPort.ts"
import type { LockHost } from "./LockOwner.ts"

export class FileLockError extends Schema.TaggedError<FileLockError>()("FileLockError", {
  reason: Schema.Literals(["Locked", "Io"]),
  message: Schema.String
}) {}

export interface AcquireOptions {
  readonly fs: FsPort
  readonly dir: string
  readonly host: LockHost
  /** give up after this long (default 10 s); the lock is never taken from a live holder */
  readonly timeoutMs?: number
  /**
   * Remove orphaned temp and stale files before the first attempt (default true). A process that takes the lock for
   * every command passes false after its first acquisition: orphans only appear when a process dies inside
   * `tryAcquireLock`, they never keep the lock from being taken, and listing the ledger dir each time cost ~0.1 ms
   * of every command. When the lock is busy, they are removed before waiting all the same.
   */
  readonly sweepOrphans?: boolean
  /** where the temp file comes from (a spare inode, `SparePool.ts`), if not created */
  readonly tempFile?: TempFile
  /** the temp file kept between this holder's acquisitions (`KeptLockFile`); without, each makes and removes its own */
  readonly kept?: KeptLockFile
}

const sync = <A>(what: string, f: () => A): Result.Result<A, FileLockError> => {
  try {
    return Result.succeed(f())
  } catch (error) {
    return Result.fail(new FileLockError({ reason: "Io", message: `${what}: ${describeError(error)}` }))
  }
}

const sweep = (options: AcquireOptions): Result.Result<number, FileLockError> =>
  sync("removing orphaned lock files", () => removeOrphans(options.fs, options.dir, options.host))

const tryOnce = (options: AcquireOptions): Result.Result<LockAttempt, FileLockError> =>
  sync("acquiring the ledger lock", () => tryAcquireLock(options.fs, options.dir, options.host, options.tempFile, options.kept))

/**
 * The first attempt, synchronously (orphans swept before it when asked, and after it when the lock is busy, before
 * any wait): a free lock, the common case, is taken with no effect of its own, so a caller can take it inside a step
 * it runs anyway (`EventLog.transact`). Busy: `waitForLock` goes on from there.
 */
const firstLockAttempt = (options: AcquireOptions): Result.Result<LockAttempt, FileLockError> => {
  const swept = options.sweepOrphans !== false
  if (swept) {
    const removed = sweep(options)
    if (Result.isFailure(removed)) return Result.fail(removed.failure)
  }
  const first = tryOnce(options)
  if (swept || Result.isFailure(first) || first.success._tag === "Acquired") return first
  const removed = sweep(options)
  return Result.isFailure(removed) ? Result.fail(removed.failure) : first
}

/**
 * After a busy first attempt (`firstLockAttempt`): jittered, backed-off retries until `timeoutMs` from now, then a
 * failure with reason "Locked". Only the waits between attempts are interruptible, so when this runs in an
 * uninterruptible region whose lock is released by a finalizer (`Effect.acquireUseRelease`), a taken lock is always
 * released.
 */
const waitForLock = Effect.fnUntraced(function*(options: AcquireOptions, busy: LockAttempt) {
  const timeoutMs = options.timeoutMs ?? 10_000
  const start = yield* Clock.currentTimeMillis
  let last = busy
  let delay = 2
  while (last._tag === "Busy") {
    const elapsed = (yield* Clock.currentTimeMillis) - start
    if (elapsed >= timeoutMs) {
      const holder = last.owner === undefined
        ? last.detail
        : `ledger is locked by pid ${last.owner.pid} on host ${last.owner.host}`
      return yield* new FileLockError({ reason: "Locked", message: `${holder} (waited ${timeoutMs} ms)` })
    }
    const jitter = yield* Random.nextBetween(0.5, 1.5)
    yield* Effect.interruptible(Effect.sleep(Math.max(1, Math.min(timeoutMs - elapsed, Math.round(delay * jitter)))))
    delay = Math.min(delay * 2, 100)
    last = yield* Effect.fromResult(tryOnce(options))
  }
  return last.lock
})

/**
 * `firstLockAttempt`, then `waitForLock` if it was busy: a free lock is returned as it is (taken in the caller's own
 * step), else the effect that waits for it or fails (only its waits are interruptible).
 */
export const takeLock = (options: AcquireOptions): HeldLock | Effect.Effect<HeldLock, FileLockError> => {
  const first = firstLockAttempt(options)
  if (Result.isFailure(first)) return Effect.fail(first.failure)
  return first.success._tag === "Acquired" ? first.success.lock : waitForLock(options, first.success)
}

/** Acquire the lock (`takeLock` as an effect). */
export const acquireLock = (options: AcquireOptions): Effect.Effect<HeldLock, FileLockError> =>
  Effect.suspend(() => {
    const lock = takeLock(options)
    return Effect.isEffect(lock) ? lock : Effect.succeed(lock)
  })

/** Release, mapping fs failures to FileLockError. */
export const releaseLockResult = (fs: FsPort, lock: HeldLock): Result.Result<boolean, FileLockError> =>
  sync("releasing the ledger lock", () => releaseLock(fs, lock))
